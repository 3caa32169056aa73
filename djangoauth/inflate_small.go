package djangoauth

import (
	"encoding/binary"
	"hash/adler32"
	"math/bits"
)

// maxSmallInflate is the largest zlib stream inflateSmall decodes: a
// session envelope is a few hundred bytes.
const maxSmallInflate = 4 << 10

// huffman is a canonical Huffman code (RFC 1951 section 3.2.2): count[n]
// codes of length n, and the symbols in code order. Its codes are decoded
// by comparing the next 15 bits, read as a number, with the first code of
// each length (limit), with no lookup table: building one is one pass over
// the code lengths, where a table-driven decoder (compress/flate's,
// klauspost's) fills a 512-entry table per code. On a session envelope of
// about 200 bytes, with three codes to build and fewer than 200 symbols to
// decode, building those tables was half of the decompression's cost.
type huffman struct {
	count  [16]uint16
	symbol [288]uint16
	// limit[n] is the first 15-bit value past the codes of length n (a code
	// of length n, followed by any bits, is below it); base[n] is the index
	// in symbol of the code of length n whose value is 0 (negative: the
	// first code of length n is not 0).
	limit          [16]int32
	base           [16]int32
	minLen, maxLen int
}

// build makes h the code of lengths. It reports false for a code that
// compress/flate's huffmanDecoder.init rejects: over-subscribed or
// incomplete, except a single code of length 1 (which zlib accepts) and no
// code at all (an error only if a symbol is decoded with it).
func (h *huffman) build(lengths []uint8) bool {
	h.count = [16]uint16{}
	for _, n := range lengths {
		h.count[n&15]++
	}
	h.count[0] = 0
	h.minLen, h.maxLen = 0, 0
	for n := 1; n < 16; n++ {
		if h.count[n] != 0 {
			if h.minLen == 0 {
				h.minLen = n
			}
			h.maxLen = n
		}
	}
	if h.maxLen == 0 {
		return true
	}
	var offs [16]int32
	code, index := int32(0), int32(0)
	for n := 1; n < 16; n++ {
		code <<= 1 // the first code of length n
		c := int32(h.count[n])
		offs[n] = index
		h.base[n] = index - code
		code += c
		index += c
		h.limit[n] = code << (15 - n)
	}
	// code is now the codes' count in units of 2^-15: complete at 2^15
	if code != 1<<15 && (h.maxLen != 1 || h.count[1] != 1) {
		return false
	}
	for sym, n := range lengths {
		if n != 0 {
			h.symbol[offs[n&15]&511] = uint16(sym) //nolint:gosec // sym < 288
			offs[n&15]++
		}
	}
	return true
}

// bitReader reads a deflate stream's bits, least significant first.
type bitReader struct {
	in  []byte
	pos int    // next byte of in to load
	buf uint64 // bits loaded, not yet used
	n   uint   // how many
}

// need makes n (at most 56) bits available; false when the input ends
// first.
func (r *bitReader) need(n uint) bool {
	for r.n < n {
		if r.pos == len(r.in) {
			return false
		}
		r.buf |= uint64(r.in[r.pos]) << r.n
		r.pos++
		r.n += 8
	}
	return true
}

// bits returns the next n (at most 56) bits; ok is false when the input
// ends first.
func (r *bitReader) bits(n uint) (v int, ok bool) {
	if !r.need(n) {
		return 0, false
	}
	v = int(r.buf & (1<<n - 1)) //nolint:gosec // n <= 56
	r.buf >>= n
	r.n -= n
	return v, true
}

// decode reads one symbol of h; false when the input ends first or the bits
// are no code of h.
func (r *bitReader) decode(h *huffman) (int, bool) {
	if !r.need(15) {
		return r.decodeSlow(h)
	}
	v := int32(bits.Reverse16(uint16(r.buf)) >> 1) //nolint:gosec // the next 15 bits, first one highest
	for n := h.minLen; n <= h.maxLen && n > 0; n++ {
		if v < h.limit[n] {
			r.buf >>= uint(n)
			r.n -= uint(n)
			return int(h.symbol[(h.base[n]+v>>(15-n))&511]), true
		}
	}
	return 0, false
}

// decodeSlow is decode bit by bit, as zlib's puff.c does, for the last
// symbols of a stream truncated within 15 bits of them.
func (r *bitReader) decodeSlow(h *huffman) (int, bool) {
	code, first, index := 0, 0, 0
	for n := 1; n < 16; n++ {
		if r.n == 0 && !r.need(1) {
			return 0, false
		}
		code |= int(r.buf & 1)
		r.buf >>= 1
		r.n--
		count := int(h.count[n])
		if code-first < count {
			return int(h.symbol[index+code-first]), true
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, false
}

// fixedLit and fixedDist are the fixed Huffman codes (RFC 1951 3.2.6).
var fixedLit, fixedDist = func() (lit, dist huffman) {
	var l [288]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	lit.build(l[:])
	var d [32]uint8 // 30 and 31 take part in the code but are invalid
	for i := range d {
		d[i] = 5
	}
	dist.build(d[:])
	return lit, dist
}()

// codeLengthOrder is the order of the code length code's lengths.
var codeLengthOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// Base lengths and distances, and their extra bits (RFC 1951 3.2.5).
var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// smallInflater is inflateSmall's state, recycled with an inflater.
type smallInflater struct {
	r          bitReader
	lit, dist  huffman
	codeLength huffman
	lengths    [286 + 30]uint8
}

// inflateSmall decodes a zlib stream of at most maxSmallInflate bytes,
// appending to out. ok is false when it does not decode the stream: one it
// does not handle (larger, or with a preset dictionary) or an invalid one. The
// caller then decodes it with the general decoder, which says what is
// wrong. When ok is true, out is what compress/zlib returns for data
// (FuzzInflate).
func (s *smallInflater) inflateSmall(data, out []byte) (_ []byte, ok bool) {
	start := len(out)
	out, end, ok := s.stream(data, out)
	// The Adler-32 of the output, in the 4 bytes after the last block
	if !ok || len(data)-end < 4 || binary.BigEndian.Uint32(data[end:]) != adler32.Checksum(out[start:]) {
		return out, false
	}
	return out, true
}

// stream is inflateSmall but for the checksum: it decodes the zlib header
// and the deflate blocks and returns where the checksum should be.
func (s *smallInflater) stream(data, out []byte) (_ []byte, end int, ok bool) {
	if len(data) < 2+4 || len(data) > maxSmallInflate {
		return out, 0, false
	}
	cmf, flg := data[0], data[1]
	if cmf&0x0f != 8 || cmf>>4 > 7 || (uint16(cmf)<<8|uint16(flg))%31 != 0 || flg&0x20 != 0 {
		return out, 0, false
	}
	start := len(out)
	r := &s.r
	*r = bitReader{in: data, pos: 2}
blocks:
	for {
		hdr, ok := r.bits(3)
		if !ok {
			return out, 0, false
		}
		var lit, dist *huffman
		switch hdr >> 1 {
		case 0: // stored: from the next byte, LEN, NLEN and LEN bytes
			p := r.pos - int(r.n/8)
			if len(data)-p < 4 {
				return out, 0, false
			}
			n := int(binary.LittleEndian.Uint16(data[p:]))
			if binary.LittleEndian.Uint16(data[p+2:]) != ^uint16(n) || len(data)-p-4 < n || len(out)-start+n > maxDecompressed { //nolint:gosec // n < 1<<16
				return out, 0, false
			}
			out = append(out, data[p+4:p+4+n]...)
			*r = bitReader{in: data, pos: p + 4 + n}
			if hdr&1 != 0 {
				break blocks
			}
			continue
		case 1:
			lit, dist = &fixedLit, &fixedDist
		case 2:
			if !s.readCodes() {
				return out, 0, false
			}
			lit, dist = &s.lit, &s.dist
		default: // the reserved type 3
			return out, 0, false
		}
		if out, ok = s.block(out, start, lit, dist); !ok {
			return out, 0, false
		}
		if hdr&1 != 0 {
			break
		}
	}
	// the bits left of the last block's last byte are padding
	return out, r.pos - int(r.n/8), true
}

// readCodes reads a dynamic block's literal/length and distance codes,
// rejecting what compress/flate's readHuffman rejects.
func (s *smallInflater) readCodes() bool {
	r := &s.r
	v, ok := r.bits(14)
	if !ok {
		return false
	}
	nlit, ndist, nclen := v&0x1f+257, v>>5&0x1f+1, v>>10+4
	if nlit > 286 || ndist > 30 {
		return false
	}
	var cl [19]uint8
	for i := range nclen {
		n, ok := r.bits(3)
		if !ok {
			return false
		}
		cl[codeLengthOrder[i]] = uint8(n) //nolint:gosec // 3 bits
	}
	if !s.codeLength.build(cl[:]) {
		return false
	}
	lengths := s.lengths[:nlit+ndist]
	for i := 0; i < len(lengths); {
		sym, ok := r.decode(&s.codeLength)
		if !ok {
			return false
		}
		if sym < 16 {
			lengths[i] = uint8(sym) //nolint:gosec // < 16
			i++
			continue
		}
		var rep int
		var fill uint8
		switch sym {
		case 16:
			if i == 0 {
				return false
			}
			fill = lengths[i-1]
			v, ok = r.bits(2)
			rep = 3 + v
		case 17:
			v, ok = r.bits(3)
			rep = 3 + v
		default:
			v, ok = r.bits(7)
			rep = 11 + v
		}
		if !ok || i+rep > len(lengths) {
			return false
		}
		for range rep {
			lengths[i] = fill
			i++
		}
	}
	return s.lit.build(lengths[:nlit]) && s.dist.build(lengths[nlit:])
}

// block decodes one Huffman-coded block's symbols, appending to out, whose
// bytes from start on are this stream's output so far.
func (s *smallInflater) block(out []byte, start int, lit, dist *huffman) ([]byte, bool) {
	r := &s.r
	for {
		sym, ok := r.decode(lit)
		if !ok {
			return out, false
		}
		switch {
		case sym < 256:
			out = append(out, byte(sym)) //nolint:gosec // sym < 256
			continue
		case sym == 256:
			return out, true
		case sym > 285:
			return out, false
		}
		sym -= 257
		length := int(lengthBase[sym])
		if e := uint(lengthExtra[sym]); e > 0 {
			v, ok := r.bits(e)
			if !ok {
				return out, false
			}
			length += v
		}
		d, ok := r.decode(dist)
		if !ok || d > 29 {
			return out, false
		}
		distance := int(distBase[d])
		if e := uint(distExtra[d]); e > 0 {
			v, ok := r.bits(e)
			if !ok {
				return out, false
			}
			distance += v
		}
		if distance > len(out)-start || len(out)-start+length > maxDecompressed {
			return out, false
		}
		from := len(out) - distance
		for i := range length { // may overlap what it appends
			out = append(out, out[from+i])
		}
	}
}
