package emv

import "testing"

func TestCRC16(t *testing.T) {
	tests := []struct {
		in   string
		want uint16
	}{
		// The catalogue check value of CRC-16/CCITT-FALSE.
		{"123456789", 0x29B1},
		// No input leaves the initial value.
		{"", 0xFFFF},
		// Published payloads up to and including "6304"; the expected
		// value is the CRC their authors printed.
		{"00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***6304", 0x1D3D},
		{"00020101021129370016A000000677010111011300668012345675802TH53037646304", 0x6197},
		// Multibyte characters are checksummed as their UTF-8 bytes.
		{"00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304", 0xA13A},
	}
	for _, tt := range tests {
		if got := CRC16([]byte(tt.in)); got != tt.want {
			t.Errorf("CRC16(%q) = 0x%04X; want 0x%04X", tt.in, got, tt.want)
		}
	}
}
