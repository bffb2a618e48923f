package mango

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/divandb/divan/internal/couch"
)

func mustParse(t *testing.T, s string) *Selector {
	t.Helper()
	sel, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse(%s): %v", s, err)
	}
	return sel
}

type valueCase struct {
	want  bool
	value string
}

// checkSelector is mango_selector.erl's check_selector/2: {"x": S} against
// {"x": value}, and {"x": {"$not": S}} giving the opposite answer.
func checkSelector(t *testing.T, s string, cases []valueCase) {
	t.Helper()
	pos := mustParse(t, `{"x": `+s+`}`)
	neg := mustParse(t, `{"x": {"$not": `+s+`}}`)
	for _, c := range cases {
		doc := []byte(`{"_id": "d", "x": ` + c.value + `}`)
		if got := pos.Match(doc); got != c.want {
			t.Errorf("%s on %s = %v, want %v", s, c.value, got, c.want)
		}
		if got := neg.Match(doc); got == c.want {
			t.Errorf("$not %s on %s = %v, want %v", s, c.value, got, !c.want)
		}
	}
}

func TestComparisonOperators(t *testing.T) {
	checkSelector(t, `{"$lt": 5}`, []valueCase{{true, `4`}, {false, `5`}, {false, `6`}})
	checkSelector(t, `{"$lt": "hello"}`, []valueCase{{true, `"held"`}, {false, `"hello"`}, {false, `"help"`}})
	checkSelector(t, `{"$lt": [1, 2, 3]}`, []valueCase{
		{true, `[1, 2, 2]`}, {true, `[1, 2]`}, {false, `[1, 2, 3]`}, {false, `[1, 2, 4]`}, {false, `[1, 3]`}})
	checkSelector(t, `{"$lte": 5}`, []valueCase{{true, `4`}, {true, `5`}, {false, `6`}})
	checkSelector(t, `{"$lte": "hello"}`, []valueCase{{true, `"held"`}, {true, `"hello"`}, {false, `"help"`}})
	checkSelector(t, `{"$lte": [1, 2, 3]}`, []valueCase{
		{true, `[1, 2, 2]`}, {true, `[1, 2]`}, {true, `[1, 2, 3]`}, {false, `[1, 2, 4]`}, {false, `[1, 3]`}})
	checkSelector(t, `{"$gt": 5}`, []valueCase{{false, `4`}, {false, `5`}, {true, `6`}})
	checkSelector(t, `{"$gt": "hello"}`, []valueCase{{false, `"held"`}, {false, `"hello"`}, {true, `"help"`}})
	checkSelector(t, `{"$gt": [1, 2, 3]}`, []valueCase{
		{false, `[1, 2, 2]`}, {false, `[1, 2]`}, {false, `[1, 2, 3]`}, {true, `[1, 2, 4]`}, {true, `[1, 3]`}})
	checkSelector(t, `{"$gte": 5}`, []valueCase{{false, `4`}, {true, `5`}, {true, `6`}})
	checkSelector(t, `{"$gte": "hello"}`, []valueCase{{false, `"held"`}, {true, `"hello"`}, {true, `"help"`}})
	checkSelector(t, `{"$gte": [1, 2, 3]}`, []valueCase{
		{false, `[1, 2, 2]`}, {false, `[1, 2]`}, {true, `[1, 2, 3]`}, {true, `[1, 2, 4]`}, {true, `[1, 3]`}})

	checkSelector(t, `{"$eq": 5}`, []valueCase{{true, `5`}, {false, `6`}, {true, `5.0`}, {true, `5e0`}, {false, `"5"`}, {false, `[5]`}})
	checkSelector(t, `{"$eq": "hello"}`, []valueCase{{true, `"hello"`}, {false, `"help"`}, {true, `"h\u0065llo"`}, {false, `"Hello"`}})
	checkSelector(t, `{"$eq": [1, [2, 3, 4], 5]}`, []valueCase{
		{true, `[1, [2, 3, 4], 5]`}, {false, `[1, [2, 3, 4]]`}, {false, `[1, [2, 3, 4], 5, 6]`}, {false, `[1, [2, 7, 4], 5]`}})
	checkSelector(t, `{"$eq": {"a": {"b": {"c": 7}}}}`, []valueCase{
		{true, `{"a": {"b": {"c": 7}}}`}, {false, `{"a": {"b": {"c": 8}}}`},
		{false, `{"a": {"b": {"d": 7}}}`}, {false, `{"a": {"d": {"c": 7}}}`}})
	checkSelector(t, `{"$ne": 5}`, []valueCase{{false, `5`}, {true, `6`}, {false, `5.00`}})
	checkSelector(t, `{"$ne": "hello"}`, []valueCase{{false, `"hello"`}, {true, `"help"`}})
	checkSelector(t, `{"$ne": [1, [2, 3, 4], 5]}`, []valueCase{
		{false, `[1, [2, 3, 4], 5]`}, {true, `[1, [2, 3, 4]]`}, {true, `[1, [2, 3, 4], 5, 6]`}, {true, `[1, [2, 7, 4], 5]`}})
	checkSelector(t, `{"$ne": {"a": {"b": {"c": 7}}}}`, []valueCase{
		{false, `{"a": {"b": {"c": 7}}}`}, {true, `{"a": {"b": {"c": 8}}}`}})

	// Across types the collation's type order decides.
	checkSelector(t, `{"$gt": 10}`, []valueCase{
		{false, `null`}, {false, `true`}, {false, `9.99`}, {true, `10.5`}, {true, `"1"`}, {true, `[]`}, {true, `{}`}})
	checkSelector(t, `{"$lt": "a"}`, []valueCase{
		{true, `null`}, {true, `false`}, {true, `1e300`}, {true, `""`}, {false, `"A"`}, {true, `"_"`}, {false, `["a"]`}})
	checkSelector(t, `{"$gte": null}`, []valueCase{{true, `null`}, {true, `false`}, {true, `0`}, {true, `{}`}})
}

func TestInNin(t *testing.T) {
	checkSelector(t, `{"$in": []}`, []valueCase{{false, `0`}, {false, `true`}, {false, `"foo"`}, {false, `[]`}})
	in := `{"$in": [42, false, "bar", [["nested"], "list"], {"b": 2}]}`
	checkSelector(t, in, []valueCase{
		{true, `42`}, {true, `42.0`}, {true, `false`}, {true, `"bar"`}, {true, `{"b": 2}`},
		{false, `43`}, {false, `true`}, {false, `"bars"`}, {false, `{"b": 2, "c": 3}`},
		// An array value matches when any element is in the list...
		{true, `[0, 42]`}, {true, `[0, false]`}, {true, `[0, "bar"]`}, {true, `[0, {"b": 2}]`},
		// ...so an argument that is itself an array matches only nested.
		{false, `[["nested"], "list"]`}, {true, `[0, [["nested"], "list"]]`}, {false, `[]`}})
	checkSelector(t, `{"$nin": []}`, []valueCase{{true, `0`}, {true, `true`}, {true, `"foo"`}, {true, `[]`}})
	nin := `{"$nin": [42, false, "bar", [["nested"], "list"], {"b": 2}]}`
	checkSelector(t, nin, []valueCase{
		{false, `42`}, {false, `false`}, {false, `"bar"`}, {false, `{"b": 2}`},
		{true, `43`}, {true, `true`}, {true, `"bars"`}, {true, `{"b": 2, "c": 3}`},
		{false, `[0, 42]`}, {false, `[0, false]`}, {false, `[0, "bar"]`}, {false, `[0, {"b": 2}]`},
		{true, `[["nested"], "list"]`}, {false, `[0, [["nested"], "list"]]`}, {true, `[]`}})
	// Like every condition but {$exists: false}, $nin needs the field.
	sel := mustParse(t, `{"x": {"$nin": [1]}}`)
	if sel.Match([]byte(`{"_id": "d"}`)) {
		t.Error("$nin matched a missing field")
	}
}

func TestAll(t *testing.T) {
	// {"$all": []} matches nothing, not even arrays.
	checkSelector(t, `{"$all": []}`, []valueCase{{false, `[]`}, {false, `[42]`}, {false, `{}`}, {false, `"foo"`}})
	checkSelector(t, `{"$all": [1, 2, 3, 4]}`, []valueCase{
		{true, `[3, 2, 4, 1]`}, {true, `[0, 4, 3, 5, 2, 1, 6]`}, {false, `[3, 2, 4]`}, {false, `[]`}, {false, `1`}})
	checkSelector(t, `{"$not": {"$all": [1, 2, 3, 4]}}`, []valueCase{
		{true, `[2, 4, 1]`}, {false, `[2, 4, 1, 3]`}, {true, `[]`}})
	// $all: [List] also matches the list itself...
	checkSelector(t, `{"$all": [[1, 2, 3, 4]]}`, []valueCase{
		{true, `[1, 2, 3, 4]`}, {false, `[4, 3, 2, 1]`}, {false, `[1, 3, 4]`}, {false, `[]`},
		// ...or an array containing it.
		{true, `[5, [1, 2, 3, 4], 6]`}, {false, `[5, [1, 3, 4], 6]`}, {false, `[5, [1, 3, 2, 4], 6]`},
		// The whole-list form compares numbers by value (Erlang ==)...
		{true, `[1.0, 2, 3, 4]`},
		// ...membership is exact (Erlang =:=).
		{false, `[5, [1.0, 2, 3, 4]]`}})
	checkSelector(t, `{"$all": ["hello"]}`, []valueCase{
		{false, `"hello"`}, {true, `["hello"]`}, {true, `[0, "hello", 1]`}, {false, `[]`}})
	checkSelector(t, `{"$all": [{"a": 1}]}`, []valueCase{
		{true, `[{"a": 1}]`}, {true, `[{"a" : 1 }]`}, {false, `[{"a": 1, "b": 2}]`}, {false, `[{"a": 1.0}]`}})
	checkSelector(t, `{"$all": [1]}`, []valueCase{{true, `[1]`}, {false, `[1.0]`}, {false, `[1e0]`}})
	checkSelector(t, `{"$all": [{"a": 1, "b": 2}]}`, []valueCase{
		{true, `[{"a": 1, "b": 2}]`}, {false, `[{"b": 2, "a": 1}]`}})
	checkSelector(t, `{"$all": ["\u00e9"]}`, []valueCase{{true, `["é"]`}, {false, `["e\u0301"]`}})
}

func TestExists(t *testing.T) {
	checkSelector(t, `{"x": {"$exists": true}}`, []valueCase{{true, `{"x": 0}`}, {false, `{"y": 0}`}, {false, `{}`}})
	checkSelector(t, `{"x": {"$exists": false}}`, []valueCase{{false, `{"x": 0}`}, {true, `{"y": 0}`}, {true, `{}`}})
	// Normalised to {"x": {"$ne": 0}}: does not match a document without x.
	for _, s := range []string{`{"x": {"$not": {"$eq": 0}}}`, `{"x": 0}`} {
		if mustParse(t, s).Match([]byte(`{}`)) {
			t.Errorf("%s matched {}", s)
		}
	}
	// With {"$exists": true} inside the negation it does.
	checkSelector(t, `{"x": {"$not": {"$exists": true, "$eq": 0}}}`, []valueCase{
		{true, `{"x": 1}`}, {false, `{"x": 0}`}, {true, `{}`}})

	tests := []struct {
		sel, doc string
		want     bool
	}{
		{`{"a": {"$exists": false}}`, `{"b": 1}`, true},
		{`{"a": {"$exists": false}}`, `{"a": null}`, false},
		{`{"a": {"$exists": true}}`, `{"a": null}`, true},
		{`{"a.b": {"$exists": false}}`, `{"a": {}}`, true},
		{`{"a.b": {"$exists": false}}`, `{}`, true},
		// A path through a scalar or a bad index is a bad path: no match at all.
		{`{"a.b": {"$exists": false}}`, `{"a": 5}`, false},
		{`{"a.b": {"$exists": false}}`, `{"a": [1]}`, false},
		{`{"a.3": {"$exists": false}}`, `{"a": [1]}`, false},
		{`{"a": {"$not": {"$exists": true}}}`, `{}`, true},
		{`{"$not": {"a": {"$exists": false}}}`, `{}`, false},
		{`{"$nor": [{"a": {"$exists": true}}]}`, `{}`, true},
	}
	for _, tt := range tests {
		if got := mustParse(t, tt.sel).Match([]byte(tt.doc)); got != tt.want {
			t.Errorf("%s on %s = %v, want %v", tt.sel, tt.doc, got, tt.want)
		}
	}
}

func TestType(t *testing.T) {
	checkSelector(t, `{"$type": "null"}`, []valueCase{{true, `null`}, {false, `false`}, {false, `{}`}})
	checkSelector(t, `{"$type": "boolean"}`, []valueCase{{true, `true`}, {true, `false`}, {false, `0`}})
	checkSelector(t, `{"$type": "number"}`, []valueCase{
		{true, `42`}, {true, `3.14`}, {true, `0`}, {true, `-1e3`}, {false, `true`}, {false, `[1]`}, {false, `"1"`}})
	checkSelector(t, `{"$type": "string"}`, []valueCase{{true, `""`}, {true, `"hello"`}, {false, `[]`}})
	checkSelector(t, `{"$type": "array"}`, []valueCase{{true, `[]`}, {true, `[1, 2]`}, {false, `{}`}, {false, `"hi"`}})
	checkSelector(t, `{"$type": "object"}`, []valueCase{{true, `{}`}, {true, `{"a": 1}`}, {false, `[["a", 1]]`}, {false, `null`}})
	checkSelector(t, `{"$type": "integer"}`, []valueCase{{false, `1`}}) // unknown names match nothing
}

func TestRegex(t *testing.T) {
	checkSelector(t, `{"$regex": "^[0-9a-f]+$"}`, []valueCase{
		{false, `""`}, {true, `"3a0df5e"`}, {false, `"3a0gf5e"`}, {false, `42`}, {false, `["3a"]`}})
	checkSelector(t, `{"$regex": "ell"}`, []valueCase{{true, `"hello"`}, {false, `"HELLO"`}}) // unanchored
	checkSelector(t, `{"$regex": "(?i)^hello$"}`, []valueCase{{true, `"HeLLo"`}, {false, `"HeLLo!"`}})
	// Erlang's re works on bytes: "." is one byte of UTF-8.
	checkSelector(t, `{"$regex": "^.$"}`, []valueCase{{true, `"e"`}, {false, `"é"`}, {false, `"\u00e9"`}})
	checkSelector(t, `{"$regex": "^..$"}`, []valueCase{{true, `"é"`}})
	// ...and a quantifier after é repeats its last byte only.
	checkSelector(t, `{"$regex": "^é+$"}`, []valueCase{{true, `"é"`}, {false, `"éé"`}, {false, `"e"`}})
	checkSelector(t, `{"$regex": "^(é)+$"}`, []valueCase{{true, `"éé"`}})
	checkSelector(t, `{"$regex": "^\\xc3\\xa9$"}`, []valueCase{{true, `"é"`}})
	checkSelector(t, `{"$regex": "a\\.b"}`, []valueCase{{true, `"xa.by"`}, {false, `"axb"`}})
}

func TestBeginsWith(t *testing.T) {
	checkSelector(t, `{"$beginsWith": "foo"}`, []valueCase{
		{true, `"foo"`}, {true, `"food"`}, {true, `"fool me once"`}, {false, `"more food"`},
		{false, `"fo"`}, {false, `42`}, {false, `"Foo"`}, {false, `["foo"]`}})
	checkSelector(t, `{"$beginsWith": "é"}`, []valueCase{{true, `"\u00e9t\u00e9"`}, {false, `"e\u0301"`}})
	checkSelector(t, `{"$beginsWith": ""}`, []valueCase{{true, `""`}, {true, `"x"`}, {false, `null`}})
	// mango_selector.erl's match_beginswith_errors_test.
	doc := []byte(`{"_id": "foo", "_rev": "bar", "user_id": 11}`)
	if !mustParse(t, `{"_id": {"$beginsWith": "f"}}`).Match(doc) {
		t.Error("_id $beginsWith f")
	}
	if mustParse(t, `{"user_id": {"$beginsWith": "f"}}`).Match(doc) {
		t.Error("$beginsWith on a number")
	}
}

func TestMod(t *testing.T) {
	checkSelector(t, `{"$mod": [28, 1]}`, []valueCase{
		{true, `1`}, {true, `29`}, {true, `57`}, {false, `58`}, {false, `"57"`}, {false, `57.0`}, {false, `5.7e1`}})
	// Erlang's rem: the remainder takes the sign of the dividend.
	checkSelector(t, `{"$mod": [3, -1]}`, []valueCase{{true, `-7`}, {false, `7`}, {false, `-8`}})
	checkSelector(t, `{"$mod": [-3, 1]}`, []valueCase{{true, `7`}, {false, `-7`}})
	checkSelector(t, `{"$mod": [10, 3]}`, []valueCase{
		{true, `123456789012345678901234567893`}, {false, `123456789012345678901234567890`}})
	checkSelector(t, `{"$mod": [100000000000000000000, 7]}`, []valueCase{
		{true, `7`}, {true, `300000000000000000007`}, {false, `8`}})
}

func TestSize(t *testing.T) {
	checkSelector(t, `{"$size": 3}`, []valueCase{
		{false, `3`}, {false, `"fun"`}, {true, `[0, 0, 0]`}, {false, `[0, 0]`}, {false, `[0, 0, 0, 0]`}, {false, `{"a":1,"b":2,"c":3}`}})
	checkSelector(t, `{"$size": 0}`, []valueCase{{true, `[]`}, {false, `[[]]`}, {false, `{}`}})
	checkSelector(t, `{"$size": 100000000000000000000}`, []valueCase{{false, `[]`}})
}

func TestElemMatchAllMatchKeyMapMatch(t *testing.T) {
	checkSelector(t, `{"$elemMatch": {"$eq": 0}}`, []valueCase{
		{false, `[]`}, {true, `[0]`}, {false, `[1]`}, {true, `[0, 1]`}, {false, `0`}})
	// $allMatch is false on empty lists, so $not/$allMatch is not
	// $elemMatch/$not.
	checkSelector(t, `{"$allMatch": {"$eq": 0}}`, []valueCase{
		{false, `[]`}, {true, `[0]`}, {false, `[1]`}, {false, `[0, 1]`}, {false, `0`}})
	checkSelector(t, `{"$elemMatch": {"$ne": 0}}`, []valueCase{
		{false, `[]`}, {false, `[0]`}, {true, `[1]`}, {true, `[0, 1]`}})
	checkSelector(t, `{"$keyMapMatch": {"$regex": "^[a-z]+$"}}`, []valueCase{
		{true, `{"hello": 0}`}, {true, `{"a": 1, "b": 2}`}, {true, `{"a": 1, "b4": 2}`},
		{false, `{"b4": 2}`}, {false, `{}`}, {false, `["a"]`}})
	checkSelector(t, `{"$keyMapMatch": {"$eq": "secondary"}}`, []valueCase{
		{true, `{"primary": 1, "secondary": 2}`}, {false, `{"primary": 1}`}})

	// Several conditions and fields inside $elemMatch.
	checkSelector(t, `{"$elemMatch": {"$gte": 80, "$lt": 85}}`, []valueCase{
		{true, `[79, 82]`}, {false, `[79, 85]`}, {false, `[]`}})
	checkSelector(t, `{"$elemMatch": {"name": "a", "n": {"$gt": 1}}}`, []valueCase{
		{true, `[{"name": "b", "n": 5}, {"name": "a", "n": 2}]`},
		{false, `[{"name": "b", "n": 5}, {"name": "a", "n": 1}]`},
		{false, `[1, "a"]`}})
	checkSelector(t, `{"$allMatch": {"c": {"$gt": 4}}}`, []valueCase{
		{true, `[{"c": 5}]`}, {false, `[{"c": 4}]`}, {false, `[{"c": 5}, {}]`}})
	// Negations inside $elemMatch are not pushed down: $not is evaluated as
	// written, so an element without "b" satisfies {"$not": {"b": 1}}.
	checkSelector(t, `{"$elemMatch": {"$not": {"b": 1}}}`, []valueCase{
		{true, `[{"a": 1}]`}, {true, `[{"b": 2}]`}, {false, `[{"b": 1}]`}})
	// $nor there is evaluated too (CouchDB fails the request).
	checkSelector(t, `{"$elemMatch": {"$nor": [{"$eq": 1}, {"$eq": 2}]}}`, []valueCase{
		{true, `[1, 3]`}, {false, `[1, 2]`}})
}

func TestObjectsAndPaths(t *testing.T) {
	docs := []string{`{}`, `{"x": {}}`, `{"x": {"a": 1}}`, `{"x": {"a": 1, "b": 2}}`, `{"x": []}`}
	tests := []struct {
		sel  string
		want []bool
	}{
		{`{}`, []bool{true, true, true, true, true}},
		{`{"x": {}}`, []bool{false, true, false, false, false}},
		{`{"$not": {"x": {}}}`, []bool{false, false, true, true, true}},
		{`{"x": {"a": 1}}`, []bool{false, false, true, true, false}},
		{`{"x": {"a": 1, "b": 2}}`, []bool{false, false, false, true, false}},
		{`{"x.b": 2}`, []bool{false, false, false, true, false}},
		{`{"x": {"$eq": {"a": 1}}}`, []bool{false, false, true, false, false}},
	}
	for _, tt := range tests {
		sel := mustParse(t, tt.sel)
		for i, d := range docs {
			if got := sel.Match([]byte(d)); got != tt.want[i] {
				t.Errorf("%s on %s = %v, want %v", tt.sel, d, got, tt.want[i])
			}
		}
	}

	more := []struct {
		sel, doc string
		want     bool
	}{
		{`{"a": {"b": {"c": 1}}}`, `{"a": {"b": {"c": 1}}}`, true},
		{`{"a.b.c": 1}`, `{"a": {"b": {"c": 1}}}`, true},
		{`{"a": {"b.c": 1}}`, `{"a": {"b": {"c": 1}}}`, true},
		{`{"a.b": 1}`, `{"a.b": 1}`, false},
		{`{"a\\.b": 1}`, `{"a.b": 1}`, true},
		{`{"a\\.b": 1}`, `{"a": {"b": 1}}`, false},
		{`{"a\\.b.c": 1}`, `{"a.b": {"c": 1}}`, true},
		{`{"a": {"b\\.c": 1}}`, `{"a": {"b.c": 1}}`, true},
		{`{"a.1": 5}`, `{"a": [4, 5]}`, true},
		{`{"a.01": 5}`, `{"a": [4, 5]}`, true},
		{`{"a.-1": 5}`, `{"a": [4, 5]}`, false},
		{`{"a.2": 5}`, `{"a": [4, 5]}`, false},
		{`{"a.0.b": 1}`, `{"a": [{"b": 1}]}`, true},
		{`{"a.b": 1}`, `{"a": [{"b": 1}]}`, false},
		{`{"a": 1}`, `{"a": 1, "a": 2}`, true}, // the first of duplicate keys
		{`{"a": 2}`, `{"a": 1, "a": 2}`, false},
		{`{"a": 1, "a": 2}`, `{"a": 1}`, false}, // both conditions apply
		{`{"\u00e9": 1}`, `{"é": 1}`, true},
		{`{"é": 1}`, `{"\u00e9": 1}`, true},
		{`{"a": [1, 2]}`, `{"a": [1, 2]}`, true}, // arrays compare whole
		{`{"a": 1}`, `{"a": [1, 2]}`, false},
		{`{"a": null}`, `{"a": null}`, true},
		{`{"a": null}`, `{}`, false},
		{`{"a": {"$gt": null}}`, `{"a": false}`, true},
		{`{"a": {"$ne": 1}}`, `{}`, false}, // the field must exist
		{`{"a": {"$ne": 1}}`, `{"a": null}`, true},
		{`{"$not": {"a": 5}}`, `{}`, false},
		{`{"$nor": [{"a": 5}]}`, `{}`, false},
		{`{"$nor": [{"a": 5}]}`, `{"a": 4}`, true},
	}
	for _, tt := range more {
		if got := mustParse(t, tt.sel).Match([]byte(tt.doc)); got != tt.want {
			t.Errorf("%s on %s = %v, want %v", tt.sel, tt.doc, got, tt.want)
		}
	}
}

func TestCombinations(t *testing.T) {
	type c struct {
		doc  string
		want bool
	}
	tests := []struct {
		sel   string
		cases []c
	}{
		// $and/$or/$nor with an empty array match anything.
		{`{"x": {"$and": []}}`, []c{{`{"x": 0}`, true}, {`{"x": false}`, true}, {`{}`, true}}},
		{`{"x": {"$not": {"$and": []}}}`, []c{{`{"x": 0}`, true}, {`{}`, true}}},
		{`{"x": {"$or": []}}`, []c{{`{"x": 0}`, true}, {`{}`, true}}},
		{`{"x": {"$not": {"$or": []}}}`, []c{{`{"x": 0}`, true}, {`{}`, true}}},
		{`{"x": {"$nor": []}}`, []c{{`{"x": 0}`, true}, {`{}`, true}}},
		{`{"x": {"$and": [{"$gt": 3}, {"$lt": 7}]}}`, []c{{`{"x": 6}`, true}, {`{"x": 2}`, false}, {`{"x": 9}`, false}, {`{}`, false}}},
		{`{"x": {"$not": {"$and": [{"$gt": 3}, {"$lt": 7}]}}}`, []c{{`{"x": 6}`, false}, {`{"x": 2}`, true}, {`{"x": 9}`, true}, {`{}`, false}}},
		{`{"x": {"$or": [{"$lt": 3}, {"$gt": 7}]}}`, []c{{`{"x": 6}`, false}, {`{"x": 2}`, true}, {`{"x": 9}`, true}, {`{}`, false}}},
		{`{"x": {"$not": {"$or": [{"$lt": 3}, {"$gt": 7}]}}}`, []c{{`{"x": 6}`, true}, {`{"x": 2}`, false}, {`{"x": 9}`, false}, {`{}`, false}}},
		{`{"x": {"$nor": [{"$lt": 3}, {"$gt": 7}]}}`, []c{{`{"x": 6}`, true}, {`{"x": 2}`, false}, {`{"x": 9}`, false}, {`{}`, false}}},
		// The documentation's examples.
		{`{"year": {"$gte": 1900, "$lte": 1903}, "$not": {"year": 1901}}`,
			[]c{{`{"year": 1900}`, true}, {`{"year": 1901}`, false}, {`{"year": 1904}`, false}}},
		{`{"year": {"$gte": 1900, "$lte": 1910}, "$nor": [{"year": 1901}, {"year": 1905}, {"year": 1907}]}`,
			[]c{{`{"year": 1902}`, true}, {`{"year": 1905}`, false}}},
		{`{"year": 1977, "$or": [{"director": "George Lucas"}, {"director": "Steven Spielberg"}]}`,
			[]c{{`{"year": 1977, "director": "George Lucas"}`, true}, {`{"year": 1977, "director": "X"}`, false}, {`{"year": 1977}`, false}}},
		{`{"$and": [{"_id": {"$gt": null}}, {"year": {"$in": [2014, 2015]}}]}`,
			[]c{{`{"_id": "a", "year": 2015}`, true}, {`{"_id": "a", "year": 2016}`, false}}},
		{`{"_id": {"$gt": null}, "genre": {"$all": ["Comedy", "Short"]}}`,
			[]c{{`{"_id": "a", "genre": ["Short", "Drama", "Comedy"]}`, true}, {`{"_id": "a", "genre": ["Short"]}`, false}}},
		// A $text selector: CouchDB trusts the text index.
		{`{"$text": "anything"}`, []c{{`{}`, true}}},
		// Conditions with no field inside $and compare the document itself.
		{`{"$and": [{"$gt": 4}]}`, []c{{`{"a": 1}`, true}}},
		{`{"$and": [{}]}`, []c{{`{"a": 1}`, false}, {`{}`, true}}},
	}
	for _, tt := range tests {
		sel := mustParse(t, tt.sel)
		for _, cc := range tt.cases {
			if got := sel.Match([]byte(cc.doc)); got != cc.want {
				t.Errorf("%s on %s = %v, want %v", tt.sel, cc.doc, got, cc.want)
			}
		}
	}
}

// mango_selector.erl's match_demo_test, and _id's raw collation.
func TestDocumentFields(t *testing.T) {
	doc := []byte(`{"_id": "foo", "_rev": "bar", "user_id": 11}`)
	for sel, want := range map[string]bool{
		`{"user_id": 11}`:                  true,
		`{"_id": "foo"}`:                   true,
		`{"_id": "foo", "_rev": "bar"}`:    true,
		`{"user_id": 1234}`:                false,
		`{"user_id": "11"}`:                false,
		`{"_id": "foo", "_rev": "quux"}`:   false,
		`{"_id": {"$gt": "Z"}}`:            true, // raw: "f" > "Z"
		`{"_rev": {"$gt": "Z"}}`:           false,
		`{"_id": {"$lt": "FOO"}}`:          false,
		`{"_id": {"$in": ["x", "foo"]}}`:   true,
		`{"_id": {"$gt": 1}}`:              true,
		`{"_id": {"$lt": {}}}`:             false, // raw: objects < strings
		`{"_deleted": {"$exists": false}}`: true,
	} {
		if got := mustParse(t, sel).Match(doc); got != want {
			t.Errorf("%s = %v, want %v", sel, got, want)
		}
	}
	if !mustParse(t, `{"_deleted": true}`).Match([]byte(`{"_id":"x","_rev":"1-a","_deleted":true}`)) {
		t.Error("_deleted")
	}
	// Collation, not bytes, for other fields: "a" < "B".
	if !mustParse(t, `{"name": {"$lt": "B"}}`).Match([]byte(`{"name": "a"}`)) {
		t.Error("collated $lt")
	}
	if mustParse(t, `{"_id": {"$lt": "B"}}`).Match([]byte(`{"_id": "a"}`)) {
		t.Error("raw _id $lt")
	}
	// Raw collation carries into conditions below _id.
	if !mustParse(t, `{"_id": {"$elemMatch": {"$gt": "Z"}}}`).Match([]byte(`{"_id": ["a"]}`)) {
		t.Error("raw collation inside _id $elemMatch")
	}
}

func TestMatchNonObjects(t *testing.T) {
	sel := mustParse(t, `{"a": {"$exists": false}}`)
	for _, d := range []string{``, `[]`, `1`, `"x"`, `{`, `{"a"`, `{"b": [}`} {
		if sel.Match([]byte(d)) {
			t.Errorf("matched %q", d)
		}
	}
	if !sel.Match([]byte(" \n{\"b\": 1}\n ")) {
		t.Error("white space around the document")
	}
	if !mustParse(t, `{}`).Match([]byte(`[]`)) {
		t.Error("the empty selector matches anything")
	}
}

func TestParseErrors(t *testing.T) {
	dflt := "{[{<<36,100,101,102,97,117,108,116>>,{[{<<36,116,101,120,116>>,<<120>>}]}}]}"
	tests := []struct {
		sel    string
		code   couch.Code
		reason string
	}{
		{`{"$foo": 1}`, CodeInvalidOperator, "Invalid operator: $foo"},
		{`{"a": {"$foo": 1}}`, CodeInvalidOperator, "Invalid operator: $foo"},
		{`{"a": {"$": 1}}`, CodeInvalidOperator, "Invalid operator: $"},
		{`{"a": {"$in": 1}}`, CodeBadArg, "Bad argument for operator $in: 1"},
		{`{"a": {"$nin": "x"}}`, CodeBadArg, "Bad argument for operator $nin: <<120>>"},
		{`{"a": {"$all": {"b": 1}}}`, CodeBadArg, "Bad argument for operator $all: {[{<<98>>,1}]}"},
		{`{"$and": {}}`, CodeBadArg, "Bad argument for operator $and: {[]}"},
		{`{"$or": 1}`, CodeBadArg, "Bad argument for operator $or: 1"},
		{`{"$nor": null}`, CodeBadArg, "Bad argument for operator $nor: null"},
		{`{"a": {"$not": 5}}`, CodeBadArg, "Bad argument for operator $not: 5"},
		{`{"a": {"$not": [1]}}`, CodeBadArg, "Bad argument for operator $not: [1]"},
		{`{"a": {"$elemMatch": []}}`, CodeBadArg, "Bad argument for operator $elemMatch: []"},
		{`{"a": {"$allMatch": "x"}}`, CodeBadArg, "Bad argument for operator $allMatch: <<120>>"},
		{`{"a": {"$keyMapMatch": true}}`, CodeBadArg, "Bad argument for operator $keyMapMatch: true"},
		{`{"a": {"$exists": 1}}`, CodeBadArg, "Bad argument for operator $exists: 1"},
		{`{"a": {"$exists": "true"}}`, CodeBadArg, "Bad argument for operator $exists: <<116,114,117,101>>"},
		{`{"a": {"$type": 1}}`, CodeBadArg, "Bad argument for operator $type: 1"},
		{`{"a": {"$mod": [2]}}`, CodeBadArg, "Bad argument for operator $mod: [2]"},
		{`{"a": {"$mod": [2, 1.5]}}`, CodeBadArg, "Bad argument for operator $mod: [2,1.5]"},
		{`{"a": {"$mod": [2.0, 1]}}`, CodeBadArg, "Bad argument for operator $mod: [2.0,1]"},
		{`{"a": {"$mod": [0, 1]}}`, CodeBadArg, "Bad argument for operator $mod: [0,1]"},
		{`{"a": {"$mod": 2}}`, CodeBadArg, "Bad argument for operator $mod: 2"},
		{`{"a": {"$size": -1}}`, CodeBadArg, "Bad argument for operator $size: -1"},
		{`{"a": {"$size": 1.5}}`, CodeBadArg, "Bad argument for operator $size: 1.5"},
		{`{"a": {"$size": 1e3}}`, CodeBadArg, "Bad argument for operator $size: 1.0e3"},
		{`{"a": {"$size": "3"}}`, CodeBadArg, "Bad argument for operator $size: <<51>>"},
		{`{"a": {"$regex": "("}}`, CodeBadArg, "Bad argument for operator $regex: <<40>>"},
		{`{"a": {"$regex": 1}}`, CodeInvalidOperator, "Invalid operator: $regex"},
		{`{"a": {"$beginsWith": 1}}`, CodeInvalidOperator, "Invalid operator: $beginsWith"},
		{`{"a": {"$text": []}}`, CodeBadArg, "Bad argument for operator $text: []"},
		{`{"$where": "x"}`, CodeNotSupported, "Unsupported operator: $where"},
		{`{"a": {"$geoWithin": {}}}`, CodeNotSupported, "Unsupported operator: $geoWithin"},
		{`{"$near": 1}`, CodeNotSupported, "Unsupported operator: $near"},
		{`{"$gt": 1}`, CodeInvalidSelector, "One or more conditions is missing a field name."},
		{`{"": 1}`, CodeInvalidSelector, "One or more conditions is missing a field name."},
		{`{"$not": {"$gt": 1}}`, CodeInvalidSelector, "One or more conditions is missing a field name."},
		{`{"$elemMatch": {"a": 1}}`, CodeInvalidSelector, "One or more conditions is missing a field name."},
		{`{"a": {"$text": "x"}}`, CodeBadField, "Invalid field normalization on selector: " + dflt},
		{`{"$default": 1}`, CodeBadField, "Invalid field normalization on selector: {[{<<36,100,101,102,97,117,108,116>>,1}]}"},
		{`{"$not": {"$text": "x"}}`, CodeBadArg, "Bad argument for operator $not: " + dflt},
		{`{"$nor": [{"$text": "x"}]}`, CodeBadArg, "Bad argument for operator $not: " + dflt},
		// norm_ops runs over the whole selector before norm_fields.
		{`{"a": {"$text": "x"}, "b": {"$foo": 1}}`, CodeInvalidOperator, "Invalid operator: $foo"},
		// The first error in document order wins.
		{`{"a": {"$in": 1}, "b": {"$foo": 1}}`, CodeBadArg, "Bad argument for operator $in: 1"},
		{`{"a..b": 1}`, couch.CodeUnknown, "Unknown Error: mango_util :: {invalid_field_name,<<97,46,46,98>>}"},
		{`{"a": {".b": 1}}`, couch.CodeUnknown, "Unknown Error: mango_util :: {invalid_field_name,<<97,46,46,98>>}"},
		{`{"a.": 1}`, couch.CodeUnknown, "Unknown Error: mango_util :: {invalid_field_name,<<97,46>>}"},
		{`{"a\\.": {"b..c": 1}}`, couch.CodeUnknown, "Unknown Error: mango_util :: {invalid_field_name,<<97,92,46,46,98,46,46,99>>}"},
		{`[1, "a"]`, CodeInvalidSelectorJSON, "Selector must be a JSON object, not: [1,<<97>>]"},
		{`"x"`, CodeInvalidSelectorJSON, "Selector must be a JSON object, not: <<120>>"},
		{`{"a": `, couch.CodeBadRequest, "invalid UTF-8 JSON"},
	}
	for _, tt := range tests {
		_, err := ParseFind([]byte(tt.sel))
		var ce *couch.Error
		if !errors.As(err, &ce) {
			t.Errorf("ParseFind(%s) = %v, want %s", tt.sel, err, tt.reason)
			continue
		}
		if ce.Code != tt.code || ce.Reason != tt.reason {
			t.Errorf("ParseFind(%s) = %s: %q, want %s: %q", tt.sel, ce.Code, ce.Reason, tt.code, tt.reason)
		}
		// Parse reports the same reason as a bad_request, as _changes does.
		_, err = Parse([]byte(tt.sel))
		ce, _ = err.(*couch.Error)
		want := tt.reason
		if tt.code == CodeInvalidSelectorJSON {
			want = "Selector error: expected a JSON object"
		}
		if ce == nil || ce.Code != couch.CodeBadRequest || ce.Reason != want {
			t.Errorf("Parse(%s) = %v, want bad_request: %s", tt.sel, err, want)
		}
	}
}

func TestErlangFloat(t *testing.T) {
	for f, want := range map[float64]string{
		1.5: "1.5", 1.0: "1.0", 0.1: "0.1", 100: "100.0", 1000: "1.0e3", 1e-10: "1.0e-10",
		1e21: "1.0e21", 123456.789: "123456.789", 0.001: "0.001", 0.0001: "1.0e-4", -2.5: "-2.5",
		1234.5: "1234.5", 12345678: "12345678.0", 9007199254740992: "9.007199254740992e15",
		0.0123: "0.0123", 1.5e300: "1.5e300",
	} {
		if got := erlangFloat(f); got != want {
			t.Errorf("erlangFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

func TestSplitField(t *testing.T) {
	for f, want := range map[string]string{
		`ab`: "ab", `a.b`: "a|b", `a\.b`: "a.b", `a.b.c`: "a|b|c", `a.b\.c`: "a|b.c", `a\b`: "ab", `a.\`: "a|",
	} {
		got, err := splitField(f)
		if err != nil || strings.Join(got, "|") != want {
			t.Errorf("splitField(%q) = %q, %v; want %q", f, got, err, want)
		}
	}
	for _, f := range []string{`a..b`, `.a`, `a.`, `a\..`} {
		if _, err := splitField(f); err == nil {
			t.Errorf("splitField(%q) accepted", f)
		}
	}
}

// FuzzParseSelector: Parse never panics, Parse and ParseFind agree, and
// Match never panics on arbitrary documents.
func FuzzParseSelector(f *testing.F) {
	for _, s := range [][2]string{
		{`{"a": 1}`, `{"a": 1}`},
		{`{"a.b": {"$gt": 1, "$lt": 10}}`, `{"a": {"b": 5}}`},
		{`{"$or": [{"a": {"$in": [1, 2]}}, {"b": {"$exists": false}}]}`, `{"b": [1, 2]}`},
		{`{"$nor": [{"a": {"$regex": "^x"}}], "c": {"$elemMatch": {"d": {"$size": 2}}}}`, `{"a": "y", "c": [{"d": [1, 2]}]}`},
		{`{"a": {"$all": [[1]]}, "b": {"$mod": [3, 1]}, "c": {"$type": "array"}}`, `{"a": [1], "b": 4, "c": []}`},
		{`{"_id": {"$beginsWith": "x"}, "k": {"$keyMapMatch": {"$eq": "z"}}}`, `{"_id": "xy", "k": {"z": 1}}`},
		{`{"a\\.b": {"$not": {"$allMatch": {"$ne": null}}}}`, `{"a.b": [null]}`},
		{`{"a.0.b": {"$nin": [{}]}}`, `{"a": [{"b": "\u00e9"}]}`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, selector, doc []byte) {
		sel, err := Parse(selector)
		sel2, err2 := ParseFind(selector)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("Parse and ParseFind disagree on %q: %v / %v", selector, err, err2)
		}
		if err != nil {
			var ce *couch.Error
			if !errors.As(err, &ce) || ce.Code != couch.CodeBadRequest {
				t.Fatalf("Parse(%q) error %v", selector, err)
			}
			return
		}
		a, b := sel.Match(doc), sel2.Match(doc)
		if a != b {
			t.Fatalf("Match differs between Parse and ParseFind")
		}
		if sel.Match(doc) != a {
			t.Fatalf("Match is not deterministic")
		}
	})
}

// A Selector and the collator pool under it are safe for concurrent use.
func TestConcurrentMatch(t *testing.T) {
	sel := mustParse(t, `{"name": {"$gt": "élan", "$lt": "Zoë"}, "n": {"$in": [1, 2]}}`)
	docs := [][]byte{[]byte(`{"name": "Émile", "n": 2}`), []byte(`{"name": "éclair", "n": 1}`)}
	want := []bool{true, false}
	done := make(chan bool)
	for g := 0; g < 8; g++ {
		go func() {
			ok := true
			for i := 0; i < 500; i++ {
				for j, d := range docs {
					ok = ok && sel.Match(d) == want[j]
				}
			}
			done <- ok
		}()
	}
	for g := 0; g < 8; g++ {
		if !<-done {
			t.Error("concurrent Match gave a wrong answer")
		}
	}
}

// fuzzSelectors use every operator; FuzzMatchDocument runs them on
// arbitrary documents.
var fuzzSelectors = []string{
	`{"a": 1}`,
	`{"a.b": {"$gt": 1, "$lt": "z"}, "c": {"$lte": [1], "$gte": null}}`,
	`{"$or": [{"a": {"$in": [1, "x", [2], {"k": 3}]}}, {"b": {"$exists": false}}]}`,
	`{"$nor": [{"a": {"$regex": "^x.é"}}], "c": {"$elemMatch": {"d": {"$size": 2}}}}`,
	`{"a": {"$all": [[1]]}, "b": {"$mod": [3, 1]}, "c": {"$type": "array"}}`,
	`{"a": {"$all": [1, {"x": [null]}, "s"]}}`,
	`{"_id": {"$beginsWith": "x"}, "k": {"$keyMapMatch": {"$eq": "z"}}}`,
	`{"a\\.b": {"$not": {"$allMatch": {"$ne": null}}}}`,
	`{"a.0.b": {"$nin": [{}, 1.5]}, "$not": {"c": {"$exists": true}}}`,
	`{"$and": [{"$gt": 4}, {"a": {"$ne": "A"}}]}`,
	`{"a": {"$elemMatch": {"$not": {"b": 1}, "$nor": [{"c": 2}]}}}`,
}

func FuzzMatchDocument(f *testing.F) {
	for _, d := range []string{
		`{"a": 1}`, `{"a": {"b": 5}, "c": [1]}`, `{"b": [1, 2], "a": "x"}`, `{"a": "xyé", "c": [{"d": [1, 2]}]}`,
		`{"a": [[1], 1, {"x": [null]}, "s"], "b": 4, "c": []}`, `{"_id": "xy", "k": {"z": 1}}`,
		`{"a.b": [null]}`, `{"a": [{"b": "\u00e9"}]}`, `{"a": [{"b": 1}, {"c": 2}, 3]}`, `{"a": [1, 2`,
	} {
		f.Add([]byte(d))
	}
	var sels []*Selector
	for _, s := range fuzzSelectors {
		sel, err := Parse([]byte(s))
		if err != nil {
			f.Fatalf("Parse(%s): %v", s, err)
		}
		sels = append(sels, sel)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var indented bytes.Buffer
		valid := json.Indent(&indented, doc, " ", "\t") == nil
		for i, sel := range sels {
			got := sel.Match(doc)
			if valid && sel.Match(indented.Bytes()) != got {
				t.Fatalf("%s: white space changed the result on %q", fuzzSelectors[i], doc)
			}
		}
	})
}

var benchDoc = []byte(`{"_id":"user:0042","_rev":"3-6e1c9c4f8c5a4d8f9a1b2c3d4e5f6a7b","type":"user",` +
	`"name":"Ada Lovelace","age":36,"email":"ada@example.com","tags":["math","poetry"],` +
	`"address":{"city":"London","zip":"W1"}}`)

func BenchmarkMatchTwoFields(b *testing.B) {
	sel, err := Parse([]byte(`{"type": "user", "age": {"$gt": 30}}`))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !sel.Match(benchDoc) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkMatchNested(b *testing.B) {
	sel, err := Parse([]byte(`{"address.city": {"$in": ["Paris", "London"]}, "tags": {"$elemMatch": {"$eq": "poetry"}}, "name": {"$regex": "^Ada"}}`))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !sel.Match(benchDoc) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkParse(b *testing.B) {
	raw := []byte(`{"type": "user", "age": {"$gt": 30}, "$or": [{"a": 1}, {"b": {"$in": [1, 2, 3]}}]}`)
	for i := 0; i < b.N; i++ {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}
