package httpapi

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// uuidGen is couch_uuids: one generator per API instance (CouchDB keeps one
// per node), safe for concurrent use.
type uuidGen struct {
	mu     sync.Mutex
	algo   string
	suffix string // utc_id_suffix

	// sequential state
	prefix [26]byte
	seq    uint32
	primed bool

	// utc_random/utc_id: last timestamp (µs), forced monotonic
	clock int64

	// Injection points for tests.
	randBytes func([]byte)
	randInc   func() uint32 // 1..4093
	nowMicros func() int64
}

func newUUIDGen(algo, suffix string) *uuidGen {
	return &uuidGen{
		algo:      algo,
		suffix:    suffix,
		randBytes: func(b []byte) { _, _ = rand.Read(b) },
		randInc:   func() uint32 { return 1 + mrand.Uint32N(0xffd) },
		nowMicros: func() int64 { return time.Now().UnixMicro() },
	}
}

// next returns one new id.
func (g *uuidGen) next() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.nextLocked()
}

// nextN appends n new ids to dst.
func (g *uuidGen) nextN(dst []string, n int) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	for range n {
		dst = append(dst, g.nextLocked())
	}
	return dst
}

func (g *uuidGen) nextLocked() string {
	switch g.algo {
	case UUIDRandom:
		return g.random()
	case UUIDUTCRandom:
		var b [9]byte
		g.randBytes(b[:])
		return g.utcSuffix(hex.EncodeToString(b[:]))
	case UUIDUTCID:
		return g.utcSuffix(g.suffix)
	case UUIDv7:
		return g.v7()
	default:
		return g.sequential()
	}
}

func (g *uuidGen) random() string {
	var b [16]byte
	g.randBytes(b[:])
	return hex.EncodeToString(b[:])
}

// sequential: a 26-hex random prefix and a 6-hex counter that starts at and
// grows by a random 1..4093; once the counter reaches 0xfff000 that id is
// returned and a new prefix and counter are drawn.
func (g *uuidGen) sequential() string {
	if !g.primed {
		g.newPrefix()
		g.primed = true
	}
	var out [32]byte
	copy(out[:26], g.prefix[:])
	const hexdig = "0123456789abcdef"
	v := g.seq
	for i := 31; i >= 26; i-- {
		out[i] = hexdig[v&0xf]
		v >>= 4
	}
	if g.seq >= 0xfff000 {
		g.newPrefix()
	} else {
		g.seq += g.randInc()
	}
	return string(out[:])
}

func (g *uuidGen) newPrefix() {
	var b [13]byte
	g.randBytes(b[:])
	hex.Encode(g.prefix[:], b[:])
	g.seq = g.randInc()
}

// utcSuffix: 14 hex digits of microseconds since the epoch, forced to grow,
// then the suffix.
func (g *uuidGen) utcSuffix(suffix string) string {
	now := g.nowMicros()
	if now <= g.clock {
		now = g.clock + 1
	}
	g.clock = now
	s := strconv.FormatInt(now, 16)
	if len(s) < 14 {
		s = strings.Repeat("0", 14-len(s)) + s
	}
	return s + suffix
}

// v7: an RFC 9562 version 7 UUID as 32 hex digits.
func (g *uuidGen) v7() string {
	var b [16]byte
	g.randBytes(b[6:])
	ms := uint64(g.nowMicros() / 1000)
	b[0], b[1], b[2] = byte(ms>>40), byte(ms>>32), byte(ms>>24)
	b[3], b[4], b[5] = byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = 0x70 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	return hex.EncodeToString(b[:])
}

// handleUUIDs serves GET /_uuids?count=N.
func (a *API) handleUUIDs(rq *request) error {
	if rq.method != http.MethodGet {
		return notAllowed("GET")
	}
	count := 1
	if v, ok := rq.qs("count"); ok {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n < 0:
			return badRequest("count must be a positive integer")
		case n > a.conf().UUIDMaxCount:
			return badRequest("count parameter too large")
		}
		count = n
	}
	ids := a.uuids.nextN(make([]string, 0, count), count)
	etag := makeETag(etfBinaryList(ids))
	h := rq.w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "Mon, 01 Jan 1990 00:00:00 GMT")
	h["ETag"] = []string{etag}
	if etagMatch(rq.r, etag) {
		rq.sendEmpty(http.StatusNotModified)
		return nil
	}
	b := append(rq.buf[:0], `{"uuids":`...)
	b = appendStrings(b, ids)
	b = append(b, '}')
	rq.sendJSON(http.StatusOK, b)
	return nil
}

// makeETag is couch_httpd:make_etag over an already encoded term: the MD5
// as an uppercase base-36 number, in quotes.
func makeETag(term []byte) string {
	sum := md5.Sum(term)
	n := new(big.Int).SetBytes(sum[:])
	return `"` + strings.ToUpper(n.Text(36)) + `"`
}

// etfBinaryList encodes a list of binaries in Erlang's external term format,
// as term_to_binary does, so ETags over them match CouchDB's.
func etfBinaryList(items []string) []byte {
	if len(items) == 0 {
		return []byte{131, 106}
	}
	n := 6
	for _, s := range items {
		n += 5 + len(s)
	}
	b := make([]byte, 0, n+1)
	b = append(b, 131, 108)
	b = binary.BigEndian.AppendUint32(b, uint32(len(items)))
	for _, s := range items {
		b = append(b, 109)
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return append(b, 106)
}

// etagMatch is chttpd:etag_match: If-None-Match holds etag among its
// comma/space separated values (a W/ prefix ignored).
func etagMatch(r *http.Request, etag string) bool {
	v := r.Header.Get("If-None-Match")
	if v == "" {
		return false
	}
	for _, t := range strings.FieldsFunc(v, func(c rune) bool { return c == ',' || c == ' ' }) {
		if strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
