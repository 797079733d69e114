package sfu

// isVP8KeyframeStart reports whether an RTP payload is the first packet of a VP8 keyframe.
//
// VP8 payload descriptor (RFC 7741 §4.2): byte 0 is X|R|N|S|R|PID(3). A frame starts where S=1 and
// PID=0. If X is set, byte 1 is I|L|T|K|RSV and says which optional fields follow: a 7- or 15-bit
// PictureID (I; M bit says which), TL0PICIDX (L), and one byte for TID/Y/KEYIDX (T or K). The VP8
// payload header follows; its lowest bit is the inverse key frame flag (0 = keyframe).
func isVP8KeyframeStart(p []byte) bool {
	if len(p) == 0 || p[0]&0x10 == 0 || p[0]&0x07 != 0 {
		return false
	}
	i := 1
	if p[0]&0x80 != 0 {
		if len(p) < 2 {
			return false
		}
		ext := p[1]
		i = 2
		if ext&0x80 != 0 {
			if len(p) <= i {
				return false
			}
			if p[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if ext&0x40 != 0 {
			i++
		}
		if ext&0x30 != 0 {
			i++
		}
	}
	return len(p) > i && p[i]&0x01 == 0
}
