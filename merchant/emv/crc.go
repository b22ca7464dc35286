package emv

// crcTable holds the CRC of every byte value so CRC16 handles a byte per
// step instead of a bit; payloads are decoded on every scan, so it matters.
var crcTable = makeCRCTable()

func makeCRCTable() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}

// CRC16 returns the CRC-16/CCITT-FALSE checksum of b (polynomial 0x1021,
// initial value 0xFFFF, no reflection, no final XOR), the checksum EMVCo
// prescribes for data object 63. CRC16([]byte("123456789")) is 0x29B1.
func CRC16(b []byte) uint16 {
	c := uint16(0xFFFF)
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>8)^x]
	}
	return c
}
