package collate

import (
	"math"
	"math/big"
	"strconv"
	"unsafe"
)

type numKind uint8

const (
	numInt   numKind = iota // fits int64
	numBig                  // integer beyond int64
	numFloat                // literal with a fraction or an exponent
)

// number is a JSON number as CouchDB's decoder sees it: an exact integer or
// an IEEE double.
type number struct {
	kind numKind
	i    int64
	b    *big.Int
	f    float64
}

func uintNumber(u uint64) number {
	if u <= math.MaxInt64 {
		return number{kind: numInt, i: int64(u)}
	}
	return number{kind: numBig, b: new(big.Int).SetUint64(u)}
}

// parseNumber reads a JSON number literal. ok is false for text that is not
// a number.
func parseNumber(s []byte) (number, bool) {
	if len(s) == 0 {
		return number{}, false
	}
	isFloat := false
	for _, c := range s {
		if c == '.' || c == 'e' || c == 'E' {
			isFloat = true
			break
		}
	}
	if isFloat {
		// The string aliases s only for the duration of the call; an error
		// value that might keep it is dropped.
		f, err := strconv.ParseFloat(unsafe.String(&s[0], len(s)), 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
				return number{}, false
			}
		}
		if math.IsNaN(f) {
			return number{}, false
		}
		return number{kind: numFloat, f: f}, true
	}
	neg := false
	d := s
	switch d[0] {
	case '-':
		neg = true
		d = d[1:]
	case '+':
		d = d[1:]
	}
	if len(d) == 0 {
		return number{}, false
	}
	if len(d) <= 18 {
		var v int64
		for _, c := range d {
			if c < '0' || c > '9' {
				return number{}, false
			}
			v = v*10 + int64(c-'0')
		}
		if neg {
			v = -v
		}
		return number{kind: numInt, i: v}, true
	}
	b, ok := new(big.Int).SetString(string(s), 10)
	if !ok {
		return number{}, false
	}
	if b.IsInt64() {
		return number{kind: numInt, i: b.Int64()}, true
	}
	return number{kind: numBig, b: b}, true
}

// compareNumbers compares exactly by value.
func compareNumbers(x, y number) int {
	switch {
	case x.kind == numInt && y.kind == numInt:
		return cmpInt64(x.i, y.i)
	case x.kind == numFloat && y.kind == numFloat:
		return cmpFloat(x.f, y.f)
	case x.kind == numInt && y.kind == numFloat:
		return cmpIntFloat(x.i, y.f)
	case x.kind == numFloat && y.kind == numInt:
		return -cmpIntFloat(y.i, x.f)
	}
	return x.bigFloat().Cmp(y.bigFloat())
}

// bigFloat is the exact value as a big.Float.
func (n number) bigFloat() *big.Float {
	switch n.kind {
	case numInt:
		return new(big.Float).SetInt64(n.i)
	case numBig:
		return new(big.Float).SetInt(n.b)
	}
	return new(big.Float).SetFloat64(n.f)
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpIntFloat compares an integer with a double exactly.
func cmpIntFloat(i int64, f float64) int {
	const two63 = 9223372036854775808.0
	if f >= two63 {
		return -1
	}
	if f < -two63 {
		return 1
	}
	t := math.Trunc(f) // in [-2^63, 2^63): converts exactly
	if r := cmpInt64(i, int64(t)); r != 0 {
		return r
	}
	return cmpFloat(t, f)
}
