// Package spreadsheet keeps free text that qrpay writes into CSV files for
// people (statements, settlement files) from being read as a formula when a
// spreadsheet opens the file (OWASP "CSV injection"): a cell that starts
// with =, +, -, @, a tab or a carriage return gets a leading apostrophe,
// which spreadsheets show as text. Numbers qrpay writes itself (amounts,
// counts) are not text and are written as they are.
package spreadsheet

import "strings"

// Text returns s safe to write as a CSV cell.
func Text(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
