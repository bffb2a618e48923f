package mango

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// jkind is the type of a selector JSON value, with integers and doubles kept
// apart as CouchDB's JSON decoder keeps them (a literal with a fraction or an
// exponent is a double).
type jkind uint8

const (
	jNull jkind = iota
	jFalse
	jTrue
	jInt
	jFloat
	jString
	jArray
	jObject
)

// jv is a selector JSON value. Objects keep member order and duplicate keys,
// as CouchDB's decoder does.
type jv struct {
	kind jkind
	raw  []byte // the value's JSON text, as written
	str  string // decoded, for strings
	arr  []*jv
	obj  []member
}

type member struct {
	key string
	val *jv
}

// parseJSON builds a jv from text that json.Valid accepted.
func parseJSON(data []byte) *jv {
	p := jparser{data: data}
	return p.value()
}

type jparser struct {
	data []byte
	i    int
}

func (p *jparser) ws() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jparser) value() *jv {
	p.ws()
	start := p.i
	v := &jv{}
	switch p.data[p.i] {
	case 'n':
		v.kind = jNull
		p.i += 4
	case 't':
		v.kind = jTrue
		p.i += 4
	case 'f':
		v.kind = jFalse
		p.i += 5
	case '"':
		v.kind = jString
		end := stringEnd(p.data, p.i)
		s, _ := decodeString(p.data[p.i:end])
		v.str = string(s)
		p.i = end
	case '[':
		v.kind = jArray
		p.i++
		p.ws()
		if p.data[p.i] == ']' {
			p.i++
			break
		}
		for {
			v.arr = append(v.arr, p.value())
			p.ws()
			c := p.data[p.i]
			p.i++
			if c == ']' {
				break
			}
		}
	case '{':
		v.kind = jObject
		p.i++
		p.ws()
		if p.data[p.i] == '}' {
			p.i++
			break
		}
		for {
			p.ws()
			end := stringEnd(p.data, p.i)
			k, _ := decodeString(p.data[p.i:end])
			p.i = end
			p.ws()
			p.i++ // ':'
			v.obj = append(v.obj, member{key: string(k), val: p.value()})
			p.ws()
			c := p.data[p.i]
			p.i++
			if c == '}' {
				break
			}
		}
	default:
		end := p.i
		for end < len(p.data) && !isDelim(p.data[end]) {
			end++
		}
		v.kind = jInt
		if isFloatText(p.data[p.i:end]) {
			v.kind = jFloat
		}
		p.i = end
	}
	v.raw = p.data[start:p.i]
	return v
}

func isDelim(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\n', '\r', ':':
		return true
	}
	return false
}

func isFloatText(s []byte) bool {
	for _, c := range s {
		if c == '.' || c == 'e' || c == 'E' {
			return true
		}
	}
	return false
}

// integer returns the value of an integer literal.
func (v *jv) integer() *big.Int {
	n, _ := new(big.Int).SetString(string(v.raw), 10)
	return n
}

// erlang renders v as Erlang's io_lib:write (~w) renders the decoded term,
// which is how CouchDB prints arguments in error reasons: strings are
// binaries of bytes (<<97,98>>), objects {[{Key,Value},...]}.
func (v *jv) erlang() string {
	var b strings.Builder
	v.writeErlang(&b)
	return b.String()
}

func (v *jv) writeErlang(b *strings.Builder) {
	switch v.kind {
	case jNull:
		b.WriteString("null")
	case jTrue:
		b.WriteString("true")
	case jFalse:
		b.WriteString("false")
	case jInt:
		b.WriteString(v.integer().String())
	case jFloat:
		f, _ := strconv.ParseFloat(string(v.raw), 64)
		b.WriteString(erlangFloat(f))
	case jString:
		writeErlangBinary(b, v.str)
	case jArray:
		b.WriteByte('[')
		for i, e := range v.arr {
			if i > 0 {
				b.WriteByte(',')
			}
			e.writeErlang(b)
		}
		b.WriteByte(']')
	case jObject:
		b.WriteString("{[")
		for i, m := range v.obj {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('{')
			writeErlangBinary(b, m.key)
			b.WriteByte(',')
			m.val.writeErlang(b)
			b.WriteByte('}')
		}
		b.WriteString("]}")
	}
}

func writeErlangBinary(b *strings.Builder, s string) {
	b.WriteString("<<")
	for i := 0; i < len(s); i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(s[i])))
	}
	b.WriteString(">>")
}

// erlangFloat formats a double as Erlang's io_lib_format:fwrite_g/1: the
// shortest digits that read back exactly, in plain notation when that is
// not longer than scientific notation (and below 2^53), else d.ddde±N.
func erlangFloat(f float64) string {
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	sign := ""
	if f < 0 {
		sign = "-"
	}
	e := strconv.FormatFloat(math.Abs(f), 'e', -1, 64) // d.ddde±XX
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	sciExp, _ := strconv.Atoi(exp)
	l := len(digits)
	place := sciExp - (l - 1) // value = digits × 10^place
	expL := strconv.Itoa(sciExp)
	expCost := len(expL) + 2
	insertExp := func() string {
		if l == 1 {
			return digits + ".0e" + expL
		}
		return digits[:1] + "." + digits[1:] + "e" + expL
	}
	var out string
	if place < 0 {
		switch {
		case sciExp >= 0:
			out = digits[:l+place] + "." + digits[l+place:]
		case 2-place-l <= expCost:
			out = "0." + strings.Repeat("0", -place-l) + digits
		default:
			out = insertExp()
		}
	} else {
		dot := 0
		if l == 1 {
			dot = 1
		}
		if expCost+dot >= place+2 && math.Abs(f) < 1<<53 {
			out = digits + strings.Repeat("0", place) + ".0"
		} else {
			out = insertExp()
		}
	}
	return sign + out
}
