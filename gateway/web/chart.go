package web

// chart is a bar chart drawn on the server as SVG (presentation
// attributes only, so the style policy needs no exception).
type chart struct {
	Width, Height, Baseline int
	Bars                    []bar
	// Labels are the first, middle and last days, under the axis.
	Labels []chartLabel
}

type bar struct {
	X, Y, W, H int
	Negative   bool
	Date       string
	Net        int64
	Title      string // the day and its amount, for a pointer or a screen reader
}

type chartLabel struct {
	X            int
	Anchor, Text string
}

// netChart draws each day's net, in order; a day without a settlement
// is zero. Bars grow up from the baseline, down for a negative net.
func netChart(days []string, net map[string]int64, currency string) chart {
	const width, plot, top = 600, 110, 8
	c := chart{Width: width, Height: plot + top + 24}
	var maxPos, maxNeg int64
	for _, d := range days {
		if n := net[d]; n > maxPos {
			maxPos = n
		} else if -n > maxNeg {
			maxNeg = -n
		}
	}
	span := maxPos + maxNeg
	if span == 0 {
		span = 1
	}
	c.Baseline = top + int(int64(plot)*maxPos/span)
	step := width / max(len(days), 1)
	for i, d := range days {
		n := net[d]
		h := int(int64(plot) * abs(n) / span)
		b := bar{X: i*step + 1, W: max(step-2, 1), H: h, Date: d, Net: n, Negative: n < 0,
			Title: d + ": " + formatMoney(n, currency)}
		b.Y = c.Baseline - h
		if n < 0 {
			b.Y = c.Baseline
		}
		c.Bars = append(c.Bars, b)
	}
	if len(days) > 0 {
		last := len(days) - 1
		c.Labels = []chartLabel{{X: 0, Anchor: "start", Text: days[0]}, {X: last / 2 * step, Anchor: "middle", Text: days[last/2]},
			{X: len(days) * step, Anchor: "end", Text: days[last]}}
	}
	return c
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
