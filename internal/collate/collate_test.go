package collate

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"strings"
	"testing"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
)

// assertAscending checks that every pair of a sequence compares in order,
// both ways round, with cmp.
func assertAscending(t *testing.T, cmp func(a, b []byte) int, seq []string) {
	t.Helper()
	for i := range seq {
		if r := cmp([]byte(seq[i]), []byte(seq[i])); r != 0 {
			t.Errorf("cmp(%s, itself) = %d", seq[i], r)
		}
		for j := i + 1; j < len(seq); j++ {
			if r := cmp([]byte(seq[i]), []byte(seq[j])); r != -1 {
				t.Errorf("cmp(%s, %s) = %d, want -1", seq[i], seq[j], r)
			}
			if r := cmp([]byte(seq[j]), []byte(seq[i])); r != 1 {
				t.Errorf("cmp(%s, %s) = %d, want 1", seq[j], seq[i], r)
			}
		}
	}
}

// The "Collation Specification" sequence of collation.rst.
func TestCollationSpecification(t *testing.T) {
	assertAscending(t, Compare, []string{
		`null`, `false`, `true`,
		`1`, `2`, `3.0`, `4`,
		`"a"`, `"A"`, `"aa"`, `"b"`, `"B"`, `"ba"`, `"bb"`,
		`["a"]`, `["b"]`, `["b","c"]`, `["b","c", "a"]`, `["b","d"]`, `["b","d", "e"]`,
		`{"a":1}`, `{"a":2}`, `{"b":1}`, `{"b":2}`, `{"b":2, "a":1}`, `{"b":2, "c":2}`,
	})
}

// The notes under the specification: symbols before digits and letters,
// letters compared without regard to case first, then lower before upper.
func TestCollationNotes(t *testing.T) {
	for _, s := range [][]string{
		{`"~"`, `"0"`, `"a"`},
		{`"a"`, `"aa"`},
		{`"A"`, `"aa"`},
		{`"a"`, `"AA"`},
		{`"a"`, `"A"`},
		// Key ranges: "abc < Abc < ABC < abc1 < AbcZZZZZ".
		{`"abc"`, `"Abc"`, `"ABC"`, `"abc1"`, `"AbcZZZZZ"`},
		// startkey="Abc"&endkey="AbcZZZZ" holds ABC and abc1 but not abc.
		{`"abc"`, `"Abc"`, `"ABC"`, `"abc1"`, `"AbcZZZZ"`},
		// String ranges: a high character closes a prefix range.
		{`"abc"`, `"abczzzz"`, `"abcZZZZZZZZZ"`, `"abc\ufff0"`},
		{`"abc"`, `"abc\u00e9"`, `"abc\u4e2d"`, `"abc\ufff0"`},
		// Complex keys: startkey=["foo"]&endkey=["foo",{}].
		{`["foo"]`, `["foo","bar"]`, `["foo",["bar","baz"]]`, `["foo",{}]`, `["foo",{"an":"object"}]`},
		{`["XYZ"]`, `["XYZ",0]`, `["XYZ",1]`, `["XYZ",{}]`},
	} {
		assertAscending(t, Compare, s)
	}
}

// The 7-bit ASCII demonstration of collation.rst (32..126), with ` and ^
// where current ICU puts them (the page shows an old ICU with both first).
func TestASCIISequence(t *testing.T) {
	const seq = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789" +
		"aAbBcCdDeEfFgGhHiIjJkKlLmMnNoOpPqQrRsStTuUvVwWxXyYzZ"
	if len(seq) != 126-32+1 {
		t.Fatalf("sequence has %d characters", len(seq))
	}
	var keys []string
	for _, c := range seq {
		b, _ := json.Marshal(string(c))
		keys = append(keys, string(b))
	}
	assertAscending(t, Compare, keys)
}

// The raw collation example of collation.rst and _all_docs' ASCII order.
func TestRawCollation(t *testing.T) {
	assertAscending(t, CompareRawJSON, []string{
		`1`, `false`, `null`, `true`, `{"a":"a"}`, `["a"]`, `"a"`,
	})
	assertAscending(t, CompareRawJSON, []string{
		`-1e300`, `-2`, `1`, `1.5`, `2`,
		`{}`, `{"a":1}`, `{"a":1,"b":0}`, `{"b":0}`,
		`[]`, `[1]`, `[1,2]`, `[2]`,
		`""`, `"A"`, `"Z"`, `"_design/ZZZZZZZZ"`, `"_design/abc"`, `"a"`, `"\u00e9"`,
	})
	if CompareRawJSON([]byte(`1`), []byte(`1.0`)) != 0 {
		t.Error("raw: 1 != 1.0")
	}
	if CompareRaw("_design/ZZZZZZZZ", "_design/abc") != -1 || CompareRaw("a", "a") != 0 || CompareRaw("b", "a") != 1 {
		t.Error("CompareRaw is not byte order")
	}
}

func TestNumbers(t *testing.T) {
	equal := [][]string{
		{`1`, `1.0`, `1e0`, `1E0`, `10e-1`, `0.1e1`, `1.000000000000000000001`},
		{`0`, `-0`, `0.0`, `-0.0`, `0e10`},
		{`100`, `1e2`, `1E+2`, `100.00`},
		{`0.1`, `0.10000000000000001`},
		{`123456789012345678901234567890`, `123456789012345678901234567890`},
		{`9007199254740992`, `9007199254740992.0`, `9007199254740993.0`},
		{`-9223372036854775808`, `-9223372036854775808.0`},
	}
	for _, group := range equal {
		for _, a := range group {
			for _, b := range group {
				if r := Compare([]byte(a), []byte(b)); r != 0 {
					t.Errorf("Compare(%s, %s) = %d, want 0", a, b, r)
				}
			}
		}
	}
	assertAscending(t, Compare, []string{
		`-1e400`, `-1e300`, `-123456789012345678901234567890`, `-9223372036854775809`,
		`-9223372036854775808`, `-9223372036854775807`, `-2.5`, `-2`, `-1.5`, `-1`,
		`-0.5`, `0`, `1e-300`, `0.5`, `1`, `1.5`, `2`, `9007199254740992.0`,
		`9007199254740993`, `9223372036854775807`, `9223372036854775808`,
		`9.3e18`, `123456789012345678901234567890`, `1.23456789012346e29`, `1e300`, `1e400`,
	})
}

func TestStringsAndEscapes(t *testing.T) {
	equal := [][2]string{
		{`"a"`, `"\u0061"`},
		{`"\u00e9"`, `"é"`},
		{`"é"`, `"e\u0301"`}, // canonically equivalent
		{`"\ud83d\ude00"`, `"😀"`},
		{`"a\/b"`, `"a/b"`},
		{`"a"`, `"a\u0000"`}, // control characters are ignorable
		{`"ab"`, `"a\u0001b"`},
	}
	for _, p := range equal {
		if r := Compare([]byte(p[0]), []byte(p[1])); r != 0 {
			t.Errorf("Compare(%s, %s) = %d, want 0", p[0], p[1], r)
		}
	}
	assertAscending(t, Compare, []string{
		`""`, `" "`, `"_"`, `"1"`, `"a"`, `"A"`, `"á"`, `"Á"`, `"ab"`, `"b"`, `"ß"`, `"z"`, `"α"`, `"а"`, `"中"`,
	})
	if CompareStrings("a", "B") != -1 || CompareStrings("b", "A") != 1 || CompareStrings("x", "x") != 0 {
		t.Error("CompareStrings")
	}
}

func TestNested(t *testing.T) {
	assertAscending(t, Compare, []string{
		`[]`, `[null]`, `[null,null]`, `[false]`, `[1]`, `[1,[]]`, `[1,[1]]`, `[1,[1,2]]`,
		`[1,[2]]`, `[1,{}]`, `[1.5]`, `["a"]`, `[[]]`, `[[[]]]`, `[{}]`,
		`{}`, `{"a":null}`, `{"a":[]}`, `{"a":{}}`, `{"a":{"a":1}}`, `{"a":{"b":0}}`,
		`{"a":{"b":0},"c":1}`, `{"A":0}`, `{"b":[1,{"x":"y"}]}`, `{"b":[1,{"x":"Y"}]}`,
	})
	// Insignificant white space does not matter; member order does.
	if Compare([]byte(" [ 1 , { \"a\" : 2 } ] "), []byte(`[1,{"a":2}]`)) != 0 {
		t.Error("white space changed the order")
	}
	if Compare([]byte(`{"a":1,"b":2}`), []byte(`{"b":2,"a":1}`)) != -1 {
		t.Error("member order ignored")
	}
}

func TestCompareValues(t *testing.T) {
	texts := []string{
		`null`, `false`, `true`, `-1`, `0`, `1.5`, `2`, `1e300`, `"a"`, `"A"`, `"b"`,
		`[]`, `[1]`, `[1,"a"]`, `[2]`, `{}`, `{"a":1}`, `{"a":1,"b":2}`, `{"b":1}`,
	}
	decode := func(s string) any {
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, a := range texts {
		for _, b := range texts {
			want := Compare([]byte(a), []byte(b))
			if got := CompareValues(decode(a), decode(b)); got != want {
				t.Errorf("CompareValues(%s, %s) = %d, want %d", a, b, got, want)
			}
			var fa, fb any
			json.Unmarshal([]byte(a), &fa)
			json.Unmarshal([]byte(b), &fb)
			if got := CompareValues(fa, fb); got != want {
				t.Errorf("CompareValues(float64 %s, %s) = %d, want %d", a, b, got, want)
			}
		}
	}
	if CompareValues(1, 1.0) != 0 || CompareValues(int64(2), json.Number("1e0")) != 1 || CompareValues(uint64(1<<63), 1e300) != -1 {
		t.Error("mixed Go numbers")
	}
	if CompareValues(json.RawMessage(`[1]`), []any{2}) != -1 {
		t.Error("RawMessage")
	}
}

// TestASCIITable checks the ASCII fast path's table against x/text.
func TestASCIITable(t *testing.T) {
	c := collate.New(language.Und)
	for x := 0; x < 128; x++ {
		for y := 0; y < 128; y++ {
			a, b := []byte{byte(x)}, []byte{byte(y)}
			got, _ := compareASCII(a, b)
			if want := c.Compare(a, b); got != want {
				t.Errorf("%q vs %q: table %d, x/text %d", a, b, got, want)
			}
		}
	}
}

// TestASCIIFastPath compares random ASCII strings both ways.
func TestASCIIFastPath(t *testing.T) {
	c := collate.New(language.Und)
	rng := rand.New(rand.NewSource(1))
	alphabet := []byte("aAbBzZ09 _-.~\t\x00\x01\x7f")
	gen := func() []byte {
		n := rng.Intn(6)
		s := make([]byte, n)
		for i := range s {
			if rng.Intn(4) == 0 {
				s[i] = byte(rng.Intn(128))
			} else {
				s[i] = alphabet[rng.Intn(len(alphabet))]
			}
		}
		return s
	}
	for i := 0; i < 200000; i++ {
		a, b := gen(), gen()
		got, ok := compareASCII(a, b)
		if !ok {
			t.Fatal("ASCII input refused")
		}
		if want := c.Compare(a, b); got != want {
			t.Fatalf("%q vs %q: fast path %d, x/text %d", a, b, got, want)
		}
	}
}

func TestMalformed(t *testing.T) {
	for _, p := range [][2]string{
		{`[1,`, `[1,2]`}, {`{"a"`, `{"a":1}`}, {`nul`, `null`}, {`"abc`, `"abc"`},
		{`[1 2]`, `[1,2]`}, {``, `1`}, {`-`, `1`}, {`x`, `y`}, {`{"a":1,}`, `{"a":1,"b":2}`},
		{strings.Repeat("[", 20000), strings.Repeat("[", 20000)},
	} {
		a, b := []byte(p[0]), []byte(p[1])
		if Compare(a, b) != -Compare(b, a) {
			t.Errorf("Compare(%q, %q) not antisymmetric", p[0], p[1])
		}
		if Compare(a, a) != 0 {
			t.Errorf("Compare(%q, itself) != 0", p[0])
		}
	}
}

// FuzzCompare: Compare is reflexive and antisymmetric for valid JSON, agrees
// with itself after re-indentation, and never panics.
func FuzzCompare(f *testing.F) {
	for _, s := range [][2]string{
		{`null`, `false`}, {`1`, `1.0`}, {`"a"`, `"A"`}, {`["b","c"]`, `["b","d"]`},
		{`{"b":2,"a":1}`, `{"b":2}`}, {`"\u00e9"`, `"e\u0301"`}, {`123456789012345678901234567890`, `1.2e29`},
		{`[1,[2,{"x":"\ud83d\ude00"}]]`, `[1,[2,{"x":"😀"}]]`}, {`"a\u0000"`, `"a"`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ab, ba := Compare(a, b), Compare(b, a)
		rab, rba := CompareRawJSON(a, b), CompareRawJSON(b, a)
		if !json.Valid(a) || !json.Valid(b) {
			return
		}
		if Compare(a, a) != 0 || CompareRawJSON(a, a) != 0 {
			t.Fatalf("Compare(%q, itself) != 0", a)
		}
		if ab != -ba {
			t.Fatalf("Compare(%q, %q) = %d but reversed = %d", a, b, ab, ba)
		}
		if rab != -rba {
			t.Fatalf("CompareRawJSON(%q, %q) = %d but reversed = %d", a, b, rab, rba)
		}
		var ia bytes.Buffer
		if json.Indent(&ia, a, "", "  ") == nil {
			if r := Compare(ia.Bytes(), b); r != ab {
				t.Fatalf("indenting %q changed Compare from %d to %d", a, ab, r)
			}
		}
	})
}

func BenchmarkCompareASCIIStrings(b *testing.B) {
	x, y := []byte(`"hello world"`), []byte(`"hello World"`)
	for i := 0; i < b.N; i++ {
		Compare(x, y)
	}
}

func BenchmarkCompareUnicodeStrings(b *testing.B) {
	x, y := []byte(`"héllo wörld"`), []byte(`"héllo Wörld"`)
	for i := 0; i < b.N; i++ {
		Compare(x, y)
	}
}

func BenchmarkCompareNumbers(b *testing.B) {
	x, y := []byte(`12345`), []byte(`1.2345e4`)
	for i := 0; i < b.N; i++ {
		Compare(x, y)
	}
}

func BenchmarkCompareArrays(b *testing.B) {
	x, y := []byte(`["user", 42, {"a": true}]`), []byte(`["user", 42, {"a": false}]`)
	for i := 0; i < b.N; i++ {
		Compare(x, y)
	}
}
