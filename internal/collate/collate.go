// Package collate orders JSON values the way CouchDB does.
//
// Two orders exist in CouchDB and both are here:
//
//   - View collation (Compare, CompareValues, CompareStrings), the default for
//     view keys and for Mango comparisons: null < false < true < numbers <
//     strings < arrays < objects. Numbers compare by value whatever their
//     spelling (1, 1.0 and 1e0 are equal). Strings compare with the Unicode
//     Collation Algorithm as ICU's root locale does at tertiary strength
//     (CouchDB's couch_ejson_compare NIF: ucol_open("") and ucol_strcollIter),
//     so "a" < "A" < "aa" < "b". Arrays compare element by element and a
//     prefix sorts first; objects compare member by member in document order
//     (key by string collation, then value) and a prefix sorts first.
//
//   - Raw collation (CompareRaw, CompareRawJSON), used by views declared with
//     "options": {"collation": "raw"} and by Mango for the _id field: Erlang
//     term order, numbers < false < null < true < objects < arrays < strings,
//     strings by bytes.
//
// Numbers follow CouchDB's JSON decoding: a literal with a fraction or an
// exponent is an IEEE double (so 0.1 and 0.10000000000000001 are the same
// number), any other literal is an exact integer of any size. Integers and
// doubles compare exactly by value.
//
// Strings use golang.org/x/text/collate with language.Und and its default
// options, which are ICU's root defaults (tertiary strength, non-ignorable
// variables, no identical level). x/text carries CLDR 23 data while CouchDB
// links a newer libicu, so rare characters added or re-weighted by later
// Unicode versions may order differently; ASCII and the common scripts agree.
package collate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"unsafe"
)

// Compare compares two JSON texts in CouchDB view collation order and
// returns -1, 0 or +1. Insignificant white space is ignored. Malformed text
// does not panic: where the comparison reaches it, the two texts are compared
// as bytes, so the result stays deterministic and antisymmetric.
func Compare(a, b []byte) int {
	return compareTop(a, b, false)
}

// CompareRawJSON compares two JSON texts in CouchDB's raw collation (Erlang
// term order): numbers < false < null < true < objects < arrays < strings;
// numbers by value, strings by their UTF-8 bytes, arrays element-wise then by
// length, objects member-wise (key bytes, then value) then by length.
func CompareRawJSON(a, b []byte) int {
	return compareTop(a, b, true)
}

// CompareRaw compares two strings by their bytes, as CouchDB's raw collation
// and _all_docs order document ids.
func CompareRaw(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// CompareStrings compares two strings with CouchDB's (ICU root, tertiary)
// Unicode collation.
func CompareStrings(a, b string) int {
	// The comparison only reads its inputs, so the strings' bytes are used
	// in place rather than copied.
	return compareStrings(unsafe.Slice(unsafe.StringData(a), len(a)), unsafe.Slice(unsafe.StringData(b), len(b)))
}

// CompareValues compares two decoded JSON values in view collation order.
// Supported are the types encoding/json produces (nil, bool, float64,
// json.Number, string, []any, map[string]any) plus the Go integer and float
// types and json.RawMessage. Because a Go map has no member order, the
// members of a map[string]any are compared in key collation order; CouchDB
// compares them in document order, so prefer Compare on the raw text where
// member order matters. Other types are marshalled with encoding/json and
// compared as JSON text.
func CompareValues(a, b any) int {
	ra, rb := valueRank(a), valueRank(b)
	if ra == rankOther || rb == rankOther {
		return Compare(marshalValue(a), marshalValue(b))
	}
	if ra != rb {
		return cmpInt(ra, rb)
	}
	switch ra {
	case rankNull, rankFalse, rankTrue:
		return 0
	case rankNumber:
		return compareNumbers(valueNumber(a), valueNumber(b))
	case rankString:
		return CompareStrings(a.(string), b.(string))
	case rankArray:
		x, y := a.([]any), b.([]any)
		for i := 0; i < len(x) && i < len(y); i++ {
			if r := CompareValues(x[i], y[i]); r != 0 {
				return r
			}
		}
		return cmpInt(len(x), len(y))
	}
	// rankObject
	x, y := a.(map[string]any), b.(map[string]any)
	kx, ky := sortedKeys(x), sortedKeys(y)
	for i := 0; i < len(kx) && i < len(ky); i++ {
		if r := CompareStrings(kx[i], ky[i]); r != 0 {
			return r
		}
		if r := CompareValues(x[kx[i]], y[ky[i]]); r != 0 {
			return r
		}
	}
	return cmpInt(len(kx), len(ky))
}

const (
	rankNull = iota + 1
	rankFalse
	rankTrue
	rankNumber
	rankString
	rankArray
	rankObject
	rankOther
)

func valueRank(v any) int {
	switch x := v.(type) {
	case nil:
		return rankNull
	case bool:
		if x {
			return rankTrue
		}
		return rankFalse
	case float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, json.Number:
		return rankNumber
	case string:
		return rankString
	case []any:
		return rankArray
	case map[string]any:
		return rankObject
	}
	return rankOther
}

func valueNumber(v any) number {
	switch x := v.(type) {
	case float64:
		return number{kind: numFloat, f: x}
	case float32:
		return number{kind: numFloat, f: float64(x)}
	case int:
		return number{kind: numInt, i: int64(x)}
	case int8:
		return number{kind: numInt, i: int64(x)}
	case int16:
		return number{kind: numInt, i: int64(x)}
	case int32:
		return number{kind: numInt, i: int64(x)}
	case int64:
		return number{kind: numInt, i: x}
	case uint:
		return uintNumber(uint64(x))
	case uint8:
		return number{kind: numInt, i: int64(x)}
	case uint16:
		return number{kind: numInt, i: int64(x)}
	case uint32:
		return number{kind: numInt, i: int64(x)}
	case uint64:
		return uintNumber(x)
	case json.Number:
		if n, ok := parseNumber([]byte(x)); ok {
			return n
		}
		f, _ := strconv.ParseFloat(string(x), 64)
		if math.IsNaN(f) {
			f = 0
		}
		return number{kind: numFloat, f: f}
	}
	return number{}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if r := CompareStrings(keys[i], keys[j]); r != 0 {
			return r < 0
		}
		return keys[i] < keys[j]
	})
	return keys
}

func marshalValue(v any) []byte {
	if raw, ok := v.(json.RawMessage); ok {
		return raw
	}
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(fmt.Sprintf("%q", fmt.Sprint(v)))
	}
	return b
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareTop compares two whole JSON texts; malformed input falls back to a
// byte comparison so that the result stays antisymmetric.
func compareTop(a, b []byte, raw bool) int {
	wa, wb := walker{data: a}, walker{data: b}
	r := compareAt(&wa, &wb, raw, 0)
	if wa.bad || wb.bad {
		return bytes.Compare(a, b)
	}
	return r
}
