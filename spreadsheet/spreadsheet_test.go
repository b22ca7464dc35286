package spreadsheet

import "testing"

func TestText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""}, {"Blue Bottle", "Blue Bottle"}, {"=1+2", "'=1+2"}, {"+86138", "'+86138"}, {"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"}, {"\tx", "'\tx"}, {"\rx", "'\rx"}, {"a=b", "a=b"}, {"咖啡", "咖啡"},
	} {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
