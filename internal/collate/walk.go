package collate

import (
	"bytes"

	"github.com/divandb/divan/internal/rawjson"
)

// maxDepth bounds the nesting the walker follows, as encoding/json does.
// Deeper input counts as malformed.
const maxDepth = 10000

// walker reads one JSON text front to back without building values. It is
// tolerant: on malformed input it sets bad and the comparison falls back to
// bytes, so no input can make it panic.
type walker struct {
	data []byte
	i    int
	bad  bool
}

type kind uint8

const (
	kBad kind = iota
	kNull
	kFalse
	kTrue
	kNumber
	kString
	kArray
	kObject
)

// viewRank and rawRank give each kind its place in the two collations.
var (
	viewRank = [...]int{kNull: 1, kFalse: 2, kTrue: 3, kNumber: 4, kString: 5, kArray: 6, kObject: 7}
	rawRank  = [...]int{kNumber: 1, kFalse: 2, kNull: 3, kTrue: 4, kObject: 5, kArray: 6, kString: 7}
)

func (w *walker) skip() {
	for w.i < len(w.data) {
		switch w.data[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// peek returns the next significant byte, or 0 at the end.
func (w *walker) peek() byte {
	w.skip()
	if w.i < len(w.data) {
		return w.data[w.i]
	}
	return 0
}

func (w *walker) kind() kind {
	switch w.peek() {
	case 'n':
		return kNull
	case 'f':
		return kFalse
	case 't':
		return kTrue
	case '"':
		return kString
	case '[':
		return kArray
	case '{':
		return kObject
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return kNumber
	}
	return kBad
}

// literal consumes null, true or false.
func (w *walker) literal(k kind) bool {
	var lit string
	switch k {
	case kNull:
		lit = "null"
	case kTrue:
		lit = "true"
	default:
		lit = "false"
	}
	if len(w.data)-w.i < len(lit) || string(w.data[w.i:w.i+len(lit)]) != lit {
		return false
	}
	w.i += len(lit)
	return true
}

// numberText consumes a number literal and returns its text.
func (w *walker) numberText() []byte {
	start := w.i
	for w.i < len(w.data) {
		switch w.data[w.i] {
		case '-', '+', '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			w.i++
			continue
		}
		break
	}
	return w.data[start:w.i]
}

// str consumes a string literal and returns its decoded bytes. Without
// escapes the result aliases the input.
func (w *walker) str() ([]byte, bool) {
	if w.i >= len(w.data) || w.data[w.i] != '"' {
		return nil, false
	}
	start := w.i + 1
	escaped := false
	for j := start; j < len(w.data); j++ {
		switch w.data[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			w.i = j + 1
			if !escaped {
				return w.data[start:j], true
			}
			return rawjson.Unescape(w.data[start:j]), true
		}
	}
	return nil, false
}

func fail(a, b *walker) int {
	a.bad, b.bad = true, true
	return 0
}

// compareAt compares the values at a and b, consuming both when they are
// equal. When they differ it stops early: the caller stops too.
func compareAt(a, b *walker, raw bool, depth int) int {
	ka, kb := a.kind(), b.kind()
	if ka == kBad || kb == kBad || depth > maxDepth {
		return fail(a, b)
	}
	if ka != kb {
		if raw {
			return cmpInt(rawRank[ka], rawRank[kb])
		}
		return cmpInt(viewRank[ka], viewRank[kb])
	}
	switch ka {
	case kNull, kFalse, kTrue:
		if !a.literal(ka) || !b.literal(kb) {
			return fail(a, b)
		}
		return 0
	case kNumber:
		na, oka := parseNumber(a.numberText())
		nb, okb := parseNumber(b.numberText())
		if !oka || !okb {
			return fail(a, b)
		}
		return compareNumbers(na, nb)
	case kString:
		sa, oka := a.str()
		sb, okb := b.str()
		if !oka || !okb {
			return fail(a, b)
		}
		if raw {
			return bytes.Compare(sa, sb)
		}
		return compareStrings(sa, sb)
	case kArray:
		a.i++
		b.i++
		for n := 0; ; n++ {
			ea, eb := a.peek() == ']', b.peek() == ']'
			if ea || eb {
				if ea && eb {
					a.i++
					b.i++
					return 0
				}
				if ea {
					return -1
				}
				return 1
			}
			if n > 0 && (!a.comma() || !b.comma()) {
				return fail(a, b)
			}
			if r := compareAt(a, b, raw, depth+1); r != 0 || a.bad {
				return r
			}
		}
	default: // kObject
		a.i++
		b.i++
		for n := 0; ; n++ {
			ea, eb := a.peek() == '}', b.peek() == '}'
			if ea || eb {
				if ea && eb {
					a.i++
					b.i++
					return 0
				}
				if ea {
					return -1
				}
				return 1
			}
			if n > 0 && (!a.comma() || !b.comma()) {
				return fail(a, b)
			}
			a.skip()
			b.skip()
			ka, oka := a.str()
			kb, okb := b.str()
			if !oka || !okb || !a.colon() || !b.colon() {
				return fail(a, b)
			}
			var r int
			if raw {
				r = bytes.Compare(ka, kb)
			} else {
				r = compareStrings(ka, kb)
			}
			if r != 0 {
				return r
			}
			if r := compareAt(a, b, raw, depth+1); r != 0 || a.bad {
				return r
			}
		}
	}
}

func (w *walker) comma() bool {
	if w.peek() != ',' {
		return false
	}
	w.i++
	return true
}

func (w *walker) colon() bool {
	if w.peek() != ':' {
		return false
	}
	w.i++
	return true
}
