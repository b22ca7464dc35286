package risk

import (
	"math"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC)

// typical is a wallet that usually spends about 30.00.
var typical = Counters{Amounts: 20, Mean: math.Log(3000), Var: 0.2}

func TestRules(t *testing.T) {
	th := DefaultThresholds()
	pay := Facts{Kind: Payment, WalletID: "w", CardID: "c", MerchantID: "m", Amount: 3500, Now: now,
		CardBoundAt: now.Add(-30 * 24 * time.Hour)}
	transfer := Facts{Kind: Transfer, WalletID: "w", RecipientID: "r", Amount: 5000, Now: now,
		RecipientCreatedAt: now.Add(-400 * 24 * time.Hour)}
	with := func(f Facts, change func(*Facts)) Facts { change(&f); return f }
	counters := func(change func(*Counters)) Counters {
		c := typical
		c.CardPayments, c.CardMerchants = 1, 1
		change(&c)
		return c
	}
	ordinary := counters(func(*Counters) {})
	tests := []struct {
		name  string
		rule  Rule
		facts Facts
		c     Counters
		want  Outcome
		fires bool
	}{
		{"velocity: 5 a minute is ordinary", CardVelocity, pay, counters(func(c *Counters) { c.CardPayments = 5 }), Allow, false},
		{"velocity: the 6th in a minute steps up", CardVelocity, pay, counters(func(c *Counters) { c.CardPayments = 6 }), StepUp, true},
		{"velocity: the 21st in a minute is declined", CardVelocity, pay, counters(func(c *Counters) { c.CardPayments = 21 }), Decline, true},
		{"velocity: top-ups are not payments", CardVelocity, with(pay, func(f *Facts) { f.Kind = TopUp }), counters(func(c *Counters) { c.CardPayments = 30 }), Allow, false},
		{"merchants: 5 in 10 minutes is ordinary", CardMerchants, pay, counters(func(c *Counters) { c.CardMerchants = 5 }), Allow, false},
		{"merchants: the 6th steps up", CardMerchants, pay, counters(func(c *Counters) { c.CardMerchants = 6 }), StepUp, true},
		{"amount: typical", UnusualAmount, pay, ordinary, Allow, false},
		{"amount: 5x typical is not enough", UnusualAmount, with(pay, func(f *Facts) { f.Amount = 15000 }), ordinary, Allow, false},
		{"amount: 20x typical steps up", UnusualAmount, with(pay, func(f *Facts) { f.Amount = 60000 }), ordinary, StepUp, true},
		{"amount: too little history", UnusualAmount, with(pay, func(f *Facts) { f.Amount = 60000 }), counters(func(c *Counters) { c.Amounts = 4 }), Allow, false},
		{"amount: below the floor", UnusualAmount, with(pay, func(f *Facts) { f.Amount = 9000 }), counters(func(c *Counters) { c.Mean = math.Log(100) }), Allow, false},
		{"amount: transfers count", UnusualAmount, with(transfer, func(f *Facts) { f.Amount = 90000 }), ordinary, StepUp, true},
		{"amount: top-ups do not", UnusualAmount, with(pay, func(f *Facts) { f.Kind, f.Amount = TopUp, 90000 }), ordinary, Allow, false},
		{"new card: small amount", NewCardLargeAmount, with(pay, func(f *Facts) { f.CardBoundAt = now.Add(-time.Hour) }), ordinary, Allow, false},
		{"new card: large amount steps up", NewCardLargeAmount, with(pay, func(f *Facts) { f.CardBoundAt, f.Amount = now.Add(-time.Hour), 100000 }), ordinary, StepUp, true},
		{"new card: top-up too", NewCardLargeAmount, with(pay, func(f *Facts) { f.Kind, f.CardBoundAt, f.Amount = TopUp, now.Add(-time.Hour), 200000 }), ordinary, StepUp, true},
		{"new card: a day old is not new", NewCardLargeAmount, with(pay, func(f *Facts) { f.CardBoundAt, f.Amount = now.Add(-25*time.Hour), 100000 }), ordinary, Allow, false},
		{"declines: two are ordinary", RepeatedDeclines, pay, counters(func(c *Counters) { c.Declines = 2 }), Allow, false},
		{"declines: three step up", RepeatedDeclines, pay, counters(func(c *Counters) { c.Declines = 3 }), StepUp, true},
		{"recipient: an old wallet", NewRecipient, transfer, ordinary, Allow, false},
		{"recipient: opened minutes ago is alerted", NewRecipient, with(transfer, func(f *Facts) { f.RecipientCreatedAt = now.Add(-5 * time.Minute) }), ordinary, AllowAlert, true},
		{"recipient: a large amount to it is declined", NewRecipient, with(transfer, func(f *Facts) { f.RecipientCreatedAt, f.Amount = now.Add(-5*time.Minute), 500000 }), ordinary, Decline, true},
		{"recipient: payments have none", NewRecipient, pay, ordinary, Allow, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fd, fired := tt.rule(tt.facts, tt.c, th)
			if fired != tt.fires || fd.Outcome != tt.want {
				t.Errorf("fired, outcome = %v, %v; want %v, %v (%+v)", fired, fd.Outcome, tt.fires, tt.want, fd)
			}
			if fired && (fd.Rule == "" || fd.Reason == "") {
				t.Errorf("finding %+v lacks a rule or reason", fd)
			}
			if fired && !knownRule(fd.Rule) {
				t.Errorf("finding %+v names a rule not in RuleNames %v", fd, RuleNames)
			}
		})
	}
}

func TestZeroThresholdsFireNothing(t *testing.T) {
	f := Facts{Kind: Payment, WalletID: "w", CardID: "c", MerchantID: "m", Amount: 1 << 40, Now: now, CardBoundAt: now}
	c := Counters{CardPayments: 1000, CardMerchants: 1000, Declines: 1000, Amounts: 1000}
	if d := Decide(f, c, Thresholds{}); d.Outcome != Allow || len(d.Findings) != 0 {
		t.Errorf("Decide with zero thresholds = %+v; want allow, no findings", d)
	}
}

func TestDecideTakesTheMostSevere(t *testing.T) {
	f := Facts{Kind: Payment, WalletID: "w", CardID: "c", MerchantID: "m", Amount: 200000, Now: now, CardBoundAt: now.Add(-time.Minute)}
	c := typical
	c.CardPayments, c.CardMerchants = 25, 1
	d := Decide(f, c, DefaultThresholds())
	if d.Outcome != Decline {
		t.Fatalf("outcome = %v; want decline", d.Outcome)
	}
	if len(d.Findings) != 3 {
		t.Errorf("findings = %+v; want velocity, amount, new card", d.Findings)
	}
	if got, want := d.Reason(), "25 payments with this card in the last minute"; got != want {
		t.Errorf("Reason() = %q; want %q", got, want)
	}
}

func TestRoundAge(t *testing.T) {
	for d, want := range map[time.Duration]string{300 * time.Millisecond: "less than a second", 45 * time.Second: "45s", 3 * time.Minute: "3m", 2*time.Hour + 5*time.Minute: "2h5m", 2 * time.Hour: "2h"} {
		if got := roundAge(d); got != want {
			t.Errorf("roundAge(%v) = %q; want %q", d, got, want)
		}
	}
}
