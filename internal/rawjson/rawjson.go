// Package rawjson walks JSON text without decoding it, so documents keep their
// exact key order, unicode escapes and number spelling (DESIGN.md: "Documents
// keep their JSON exactly"). Callers check input with Valid first; the
// scanners here assume well-formed JSON and report ErrSyntax otherwise.
package rawjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// ErrSyntax reports text that is not the JSON the caller promised.
var ErrSyntax = errors.New("rawjson: malformed JSON")

// ErrNotObject reports a value that is not a JSON object.
var ErrNotObject = errors.New("rawjson: not a JSON object")

// Member is one member of a JSON object: its key decoded, and its raw key and
// value text as they appear in the input (value with insignificant white space
// still present).
type Member struct {
	Key    string
	RawKey []byte // the quoted key exactly as written
	Value  []byte
}

// Valid reports whether data is one JSON value, with optional white space
// around it, in valid UTF-8: what CouchDB's decoder accepts. Duplicate
// member names are allowed, as CouchDB allows them, and so are escaped lone
// surrogates ("\ud800"), which encoding/json accepts too.
//
// It is encoding/json.Valid plus utf8.Valid, run by the JSON v2 scanner
// (jsontext), which checks a 1 MB _bulk_docs body about eight times faster.
func Valid(data []byte) bool {
	return jsontext.Value(data).IsValid(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)) &&
		utf8.Valid(data)
}

// Members calls fn for each member of the JSON object in data, in order. It
// stops at the first error fn returns.
func Members(data []byte, fn func(m Member) error) error {
	i := SkipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return ErrNotObject
	}
	i = SkipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		if SkipSpace(data, i+1) != len(data) {
			return ErrSyntax
		}
		return nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return ErrSyntax
		}
		kend, err := stringEnd(data, i)
		if err != nil {
			return err
		}
		rawKey := data[i:kend]
		key, err := decodeString(rawKey)
		if err != nil {
			return err
		}
		i = SkipSpace(data, kend)
		if i >= len(data) || data[i] != ':' {
			return ErrSyntax
		}
		i = SkipSpace(data, i+1)
		vend, err := ValueEnd(data, i)
		if err != nil {
			return err
		}
		if err := fn(Member{Key: key, RawKey: rawKey, Value: data[i:vend]}); err != nil {
			return err
		}
		i = SkipSpace(data, vend)
		if i >= len(data) {
			return ErrSyntax
		}
		switch data[i] {
		case ',':
			i = SkipSpace(data, i+1)
		case '}':
			if SkipSpace(data, i+1) != len(data) {
				return ErrSyntax
			}
			return nil
		default:
			return ErrSyntax
		}
	}
}

// Elements calls fn for each element of the JSON array in data, in order.
func Elements(data []byte, fn func(v []byte) error) error {
	i := SkipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return ErrSyntax
	}
	i = SkipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return trailer(data, i+1)
	}
	for {
		end, err := ValueEnd(data, i)
		if err != nil {
			return err
		}
		if err := fn(data[i:end]); err != nil {
			return err
		}
		i = SkipSpace(data, end)
		if i >= len(data) {
			return ErrSyntax
		}
		switch data[i] {
		case ',':
			i = SkipSpace(data, i+1)
		case ']':
			return trailer(data, i+1)
		default:
			return ErrSyntax
		}
	}
}

// ValueEnd returns the index just past the JSON value starting at data[i].
func ValueEnd(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, ErrSyntax
	}
	switch c := data[i]; {
	case c == '"':
		return stringEnd(data, i)
	case c == '{' || c == '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, err := stringEnd(data, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, ErrSyntax
	default:
		j := i
		for j < len(data) && !isDelim(data[j]) {
			j++
		}
		if j == i {
			return 0, ErrSyntax
		}
		return j, nil
	}
}

// trailer checks that only white space follows data[i:].
func trailer(data []byte, i int) error {
	if SkipSpace(data, i) != len(data) {
		return ErrSyntax
	}
	return nil
}

func isDelim(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\n', '\r', ':':
		return true
	}
	return false
}

// stringEnd returns the index just past the string whose opening quote is
// data[i]. It jumps from quote to quote with bytes.IndexByte, which is
// vectorised, instead of stepping through every byte of long strings: a
// quote ends the string unless an odd run of backslashes escapes it.
func stringEnd(data []byte, i int) (int, error) {
	for j := i + 1; j < len(data); j++ {
		k := bytes.IndexByte(data[j:], '"')
		if k < 0 {
			break
		}
		j += k
		run := 0
		for p := j - 1; p > i && data[p] == '\\'; p-- {
			run++
		}
		if run%2 == 0 {
			return j + 1, nil
		}
	}
	return 0, ErrSyntax
}

// SkipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func SkipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// decodeString decodes a quoted JSON string; the common case without escapes
// avoids the reflection-based decoder.
func decodeString(raw []byte) (string, error) {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", ErrSyntax
	}
	return s, nil
}

// String decodes a JSON string value; ok is false when v is not a string.
func String(v []byte) (s string, ok bool) {
	v = bytes.TrimSpace(v)
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	if end, err := stringEnd(v, 0); err != nil || end != len(v) {
		return "", false
	}
	s, err := decodeString(v)
	return s, err == nil
}

// Compact appends data with insignificant white space removed. Escapes and
// number spelling are kept as written.
func Compact(dst, data []byte) ([]byte, error) {
	if !needsCompact(data) {
		return append(dst, data...), nil
	}
	buf := bytes.NewBuffer(dst)
	if err := json.Compact(buf, data); err != nil {
		return dst, ErrSyntax
	}
	return buf.Bytes(), nil
}

// needsCompact reports whether data has white space outside strings.
func needsCompact(data []byte) bool {
	for j := 0; j < len(data); j++ {
		switch data[j] {
		case '"':
			end, err := stringEnd(data, j)
			if err != nil {
				return false // unterminated: nothing after it is outside a string
			}
			j = end - 1
		case ' ', '\t', '\n', '\r':
			return true
		}
	}
	return false
}

// AppendString appends s as a JSON string literal. It escapes only what JSON
// requires (plus <, >, & are left alone, as CouchDB's encoder does).
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			if c < utf8.RuneSelf {
				i++
				continue
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			const hex = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Unescape decodes the inside of a JSON string (without its quotes). Bad
// escapes and lone surrogates become U+FFFD, as encoding/json does.
func Unescape(s []byte) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i >= len(s) {
			break
		}
		switch s[i] {
		case '"', '\\', '/':
			out = append(out, s[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(s[i+1:])
			if !ok {
				out = utf8.AppendRune(out, utf8.RuneError)
				continue
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					if r2, ok := hex4(s[i+3:]); ok {
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							out = utf8.AppendRune(out, d)
							i += 6
							continue
						}
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			out = utf8.AppendRune(out, utf8.RuneError)
		}
	}
	return out
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
