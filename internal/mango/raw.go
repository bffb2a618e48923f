package mango

import (
	"bytes"

	"github.com/divandb/divan/internal/rawjson"
)

// Documents are matched in their JSON text: a field is found by scanning the
// members on its path, and only the values an operator looks at are decoded.
// Every function here is bounds-checked and reports malformed text instead
// of panicking; Match treats malformed text as "no match".

// maxDepth bounds nesting, as encoding/json does.
const maxDepth = 10000

// trim drops white space around a value.
func trim(d []byte) []byte {
	i := rawjson.SkipSpace(d, 0)
	j := len(d)
	for j > i {
		switch d[j-1] {
		case ' ', '\t', '\n', '\r':
			j--
			continue
		}
		break
	}
	return d[i:j]
}

// stringEnd returns the index just past the string literal starting at
// d[i] (a quote), or -1.
func stringEnd(d []byte, i int) int {
	j := i + 1
	for j < len(d) {
		k := bytes.IndexByte(d[j:], '"')
		if k < 0 {
			return -1
		}
		q := j + k
		// The quote ends the string unless an odd number of backslashes
		// escapes it.
		n := 0
		for p := q - 1; p > i && d[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
	return -1
}

// valueEnd returns the index just past the value starting at d[i], or -1.
func valueEnd(d []byte, i int) int {
	if i >= len(d) {
		return -1
	}
	switch d[i] {
	case '"':
		return stringEnd(d, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(d); j++ {
			switch d[j] {
			case '"':
				end := stringEnd(d, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(d) && !isDelim(d[j]) {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}

// decodeString decodes a string literal (with its quotes). Without escapes
// the result aliases d.
func decodeString(d []byte) ([]byte, bool) {
	if len(d) < 2 || d[0] != '"' || d[len(d)-1] != '"' {
		return nil, false
	}
	s := d[1 : len(d)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return s, true
	}
	return rawjson.Unescape(s), true
}

// keyIs reports whether the string literal k decodes to name.
func keyIs(k []byte, name string) bool {
	if len(k) < 2 {
		return false
	}
	inner := k[1 : len(k)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == name
	}
	s, ok := decodeString(k)
	return ok && string(s) == name
}

// members calls fn with each member's key literal and value (both trimmed)
// of the object d, until fn returns false. It reports false for malformed
// text.
func members(d []byte, fn func(key, val []byte) bool) bool {
	if len(d) == 0 || d[0] != '{' {
		return false
	}
	i := rawjson.SkipSpace(d, 1)
	if i < len(d) && d[i] == '}' {
		return true
	}
	for {
		if i >= len(d) || d[i] != '"' {
			return false
		}
		kend := stringEnd(d, i)
		if kend < 0 {
			return false
		}
		key := d[i:kend]
		i = rawjson.SkipSpace(d, kend)
		if i >= len(d) || d[i] != ':' {
			return false
		}
		i = rawjson.SkipSpace(d, i+1)
		vend := valueEnd(d, i)
		if vend < 0 {
			return false
		}
		if !fn(key, d[i:vend]) {
			return true
		}
		i = rawjson.SkipSpace(d, vend)
		if i >= len(d) {
			return false
		}
		switch d[i] {
		case ',':
			i = rawjson.SkipSpace(d, i+1)
		case '}':
			return true
		default:
			return false
		}
	}
}

// elements calls fn with each element (trimmed) of the array d, until fn
// returns false. It reports false for malformed text.
func elements(d []byte, fn func(val []byte) bool) bool {
	if len(d) == 0 || d[0] != '[' {
		return false
	}
	i := rawjson.SkipSpace(d, 1)
	if i < len(d) && d[i] == ']' {
		return true
	}
	for {
		end := valueEnd(d, i)
		if end < 0 {
			return false
		}
		if !fn(d[i:end]) {
			return true
		}
		i = rawjson.SkipSpace(d, end)
		if i >= len(d) {
			return false
		}
		switch d[i] {
		case ',':
			i = rawjson.SkipSpace(d, i+1)
		case ']':
			return true
		default:
			return false
		}
	}
}

type lookupResult uint8

const (
	found lookupResult = iota
	notFound
	badPath
)

// lookup follows path from v as mango_doc:get_field does: an object member
// by name (the first of duplicates), an array element by decimal index;
// anything else, or an index out of range, is a bad path.
func lookup(v []byte, path []string) ([]byte, lookupResult) {
	for _, name := range path {
		if len(v) == 0 {
			return nil, badPath
		}
		switch v[0] {
		case '{':
			var sub []byte
			ok := members(v, func(k, val []byte) bool {
				if keyIs(k, name) {
					sub = val
					return false
				}
				return true
			})
			if sub == nil {
				if ok {
					return nil, notFound
				}
				return nil, badPath
			}
			v = sub
		case '[':
			idx, ok := arrayIndex(name)
			if !ok {
				return nil, badPath
			}
			var sub []byte
			n := 0
			elements(v, func(e []byte) bool {
				if n == idx {
					sub = e
					return false
				}
				n++
				return true
			})
			if sub == nil {
				return nil, badPath
			}
			v = sub
		default:
			return nil, badPath
		}
	}
	return v, found
}

// arrayIndex parses a path segment as Erlang's list_to_integer does (an
// optional sign, then decimal digits) and accepts it when it is a valid
// non-negative index.
func arrayIndex(s string) (int, bool) {
	d := s
	neg := false
	if len(d) > 0 && (d[0] == '+' || d[0] == '-') {
		neg = d[0] == '-'
		d = d[1:]
	}
	if len(d) == 0 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(d); i++ {
		c := d[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (1<<31)/10 {
			return 0, false // beyond any array length
		}
		n = n*10 + int(c-'0')
	}
	if neg && n != 0 {
		return 0, false
	}
	return n, true
}

// typeName is mango_json:type of a value.
func typeName(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	switch v[0] {
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	case '"':
		return "string"
	case '[':
		return "array"
	case '{':
		return "object"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "number"
	}
	return ""
}

func isNumber(v []byte) bool { return typeName(v) == "number" }
