// Package emv encodes and strictly decodes EMVCo merchant-presented QR
// payloads (EMV QR Code Specification for Payment Systems, Merchant-Presented
// Mode), the format behind PIX, PayNow/SGQR, PromptPay, Bharat QR, QR Ph,
// VietQR and most other national QR payment schemes.
//
// A payload is a sequence of data objects, each written as
//
//	ID     two decimal digits, "00" to "99"
//	length two decimal digits, "01" to "99": the number of characters in the value
//	value  that many characters
//
// Lengths count characters (Unicode code points), not bytes, so a merchant
// name in the language template 64 such as "北京咖啡馆" has length 05. Some
// objects are templates whose value is itself a sequence of data objects:
// merchant account information 26–51, additional data 62, merchant
// information in an alternate language 64 and the unreserved templates 80–99.
//
// The last object is always the CRC, ID 63 with length 04. Its value is the
// CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF) of the UTF-8
// bytes of everything before it, including its own ID and length "6304",
// written as four hexadecimal digits. Encode writes them upper case; Decode
// accepts either case.
package emv
