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

// vp8Descriptor locates the fields of a VP8 payload descriptor that a forwarder rewrites to keep
// one stream continuous across layers: the PictureID (picLen 1 or 2 bytes at picAt; 0: absent)
// and TL0PICIDX (at tl0At; 0: absent). hdrAt is where the VP8 payload header starts. ok is false
// for a descriptor too short to hold what its flags announce.
func vp8Descriptor(p []byte) (picAt, picLen, tl0At, hdrAt int, ok bool) {
	if len(p) == 0 {
		return 0, 0, 0, 0, false
	}
	i := 1
	if p[0]&0x80 != 0 {
		if len(p) < 2 {
			return 0, 0, 0, 0, false
		}
		ext := p[1]
		i = 2
		if ext&0x80 != 0 {
			if len(p) <= i {
				return 0, 0, 0, 0, false
			}
			picAt, picLen = i, 1
			if p[i]&0x80 != 0 {
				picLen = 2
			}
			i += picLen
		}
		if ext&0x40 != 0 {
			tl0At = i
			i++
		}
		if ext&0x30 != 0 {
			i++
		}
	}
	if len(p) < i {
		return 0, 0, 0, 0, false
	}
	return picAt, picLen, tl0At, i, true
}

// vp8KeyframeSize reads the frame size from the first packet of a VP8 keyframe (RFC 6386 §9.1:
// after the 3-byte frame tag, the start code 9d 01 2a, then 14-bit width and height, little-endian,
// each with 2 bits of scaling on top).
func vp8KeyframeSize(p []byte) (w, h int, ok bool) {
	_, _, _, i, ok := vp8Descriptor(p)
	if !ok || len(p) < i+10 || p[i+3] != 0x9d || p[i+4] != 0x01 || p[i+5] != 0x2a {
		return 0, 0, false
	}
	w = int(p[i+6]) | int(p[i+7]&0x3f)<<8
	h = int(p[i+8]) | int(p[i+9]&0x3f)<<8
	return w, h, w > 0 && h > 0
}
