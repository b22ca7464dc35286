package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/qrpay/qrpay/testenv"
)

func TestMerchantCommands(t *testing.T) {
	t.Setenv("DATABASE_URL", testenv.Schema(t))
	t.Setenv("MERCHANT_SECRET_KEY", "test-merchant-key-0123456789")
	ctx := context.Background()
	sh := func(args ...string) (string, int) {
		var out, errOut bytes.Buffer
		code := run(ctx, args, &out, &errOut)
		return out.String() + errOut.String(), code
	}
	out, code := sh("merchant", "create", "-name", "Blue Bottle Coffee", "-city", "Shanghai", "-mcc", "5814", "-fee-bps", "60")
	if code != 0 {
		t.Fatalf("merchant create exited %d: %s", code, out)
	}
	var m struct {
		ID            string `json:"id"`
		WebhookSecret string `json:"webhook_secret"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil || m.ID == "" || !strings.HasPrefix(m.WebhookSecret, "whsec_") {
		t.Fatalf("merchant create printed %s (%v)", out, err)
	}
	out, code = sh("merchant", "keys", "issue", "-merchant", m.ID, "-scopes", "pos,finance")
	var k struct {
		ID     string   `json:"id"`
		Secret string   `json:"secret"`
		Scopes []string `json:"scopes"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &k) != nil || !strings.HasPrefix(k.Secret, "sk_") || len(k.Scopes) != 2 {
		t.Fatalf("keys issue = %d %s", code, out)
	}
	out, code = sh("merchant", "keys", "rotate", "-merchant", m.ID, "-key", k.ID)
	if code != 0 || !strings.Contains(out, `"secret"`) {
		t.Fatalf("keys rotate = %d %s", code, out)
	}
	out, code = sh("merchant", "keys", "list", "-merchant", m.ID)
	if code != 0 || strings.Count(out, `"id"`) != 2 || strings.Contains(out, `"secret"`) {
		t.Errorf("keys list = %d %s; want two keys without secrets", code, out)
	}
	if out, code = sh("merchant", "keys", "revoke", "-merchant", m.ID, "-key", k.ID); code != 0 {
		t.Errorf("keys revoke = %d %s", code, out)
	}
	if out, code = sh("merchant", "suspend", m.ID); code != 0 || !strings.Contains(out, `"status": "suspended"`) {
		t.Errorf("suspend = %d %s", code, out)
	}
	if out, code = sh("merchant", "create", "-name", strings.Repeat("x", 26), "-city", "X", "-mcc", "5814"); code != 1 || !strings.Contains(out, "name") {
		t.Errorf("create with a 26-character name = %d %s; want exit 1 naming the field", code, out)
	}
}
