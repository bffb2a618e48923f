package rawjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMembers(t *testing.T) {
	tests := []struct {
		in   string
		want string // key|rawkey|value;...
		err  error
	}{
		{`{}`, "", nil},
		{` { } `, "", nil},
		{`{"a":1}`, `a|"a"|1;`, nil},
		{"{ \"a\" :\n [ 1 , 2 ] , \"b\":{\"c\" : \"}\"} }", `a|"a"|[ 1 , 2 ];b|"b"|{"c" : "}"};`, nil},
		{`{"\u00e9\"":"x\\","":null}`, `é"|"\u00e9\""|"x\\";|""|null;`, nil},
		{`{"a":1,"a":2}`, `a|"a"|1;a|"a"|2;`, nil},
		{`[1]`, "", ErrNotObject},
		{`"x"`, "", ErrNotObject},
		{``, "", ErrNotObject},
		{`{"a":1`, "", ErrSyntax},
		{`{"a":1}x`, "", ErrSyntax},
		{`{}x`, "", ErrSyntax},
		{`{"a" 1}`, "", ErrSyntax},
		{`{a:1}`, "", ErrSyntax},
	}
	for _, tc := range tests {
		var got strings.Builder
		err := Members([]byte(tc.in), func(m Member) error {
			got.WriteString(m.Key + "|" + string(m.RawKey) + "|" + string(m.Value) + ";")
			return nil
		})
		if err != tc.err {
			t.Fatalf("Members(%q) err %v, want %v", tc.in, err, tc.err)
		}
		if err == nil && got.String() != tc.want {
			t.Fatalf("Members(%q) = %q, want %q", tc.in, got.String(), tc.want)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := Members([]byte(`{"a":1,"b":2}`), func(Member) error { n++; return stop })
	if err != stop || n != 1 {
		t.Fatalf("fn error not propagated: %v, %d calls", err, n)
	}
}

func TestElements(t *testing.T) {
	tests := []struct {
		in   string
		want string
		err  error
	}{
		{`[]`, "", nil},
		{` [ ] `, "", nil},
		{`[1, "a,]" , {"b":[2]}, [] ,null]`, `1;"a,]";{"b":[2]};[];null;`, nil},
		{`{}`, "", ErrSyntax},
		{`[1`, "", ErrSyntax},
		{`[1]x`, "", ErrSyntax},
		{`[]]`, "", ErrSyntax},
		{`[1 2]`, "", ErrSyntax},
	}
	for _, tc := range tests {
		var got strings.Builder
		err := Elements([]byte(tc.in), func(v []byte) error {
			got.WriteString(string(v) + ";")
			return nil
		})
		if err != tc.err {
			t.Fatalf("Elements(%q) err %v, want %v", tc.in, err, tc.err)
		}
		if err == nil && got.String() != tc.want {
			t.Fatalf("Elements(%q) = %q, want %q", tc.in, got.String(), tc.want)
		}
	}
}

func TestValueEnd(t *testing.T) {
	tests := []struct {
		in  string
		at  int
		end int // -1 for ErrSyntax
	}{
		{`"abc",`, 0, 5},
		{`"a\"b"]`, 0, 6},
		{`"a\\"]`, 0, 5},
		{`{"a":"}"}, 1`, 0, 9},
		{`[[1],{"]":[]}] `, 0, 14},
		{`-1.5e3,`, 0, 6},
		{`true}`, 0, 4},
		{`null`, 0, 4},
		{`x: 12 `, 3, 5},
		{`"abc`, 0, -1},
		{`{"a":1`, 0, -1},
		{``, 0, -1},
		{`,`, 0, -1},
	}
	for _, tc := range tests {
		end, err := ValueEnd([]byte(tc.in), tc.at)
		if tc.end < 0 {
			if err != ErrSyntax {
				t.Fatalf("ValueEnd(%q) = %d, %v; want ErrSyntax", tc.in, end, err)
			}
			continue
		}
		if err != nil || end != tc.end {
			t.Fatalf("ValueEnd(%q, %d) = %d, %v; want %d", tc.in, tc.at, end, err, tc.end)
		}
	}
}

func TestCompact(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":1}`, `{"a":1}`},
		{" { \"a\" : 1.50 ,\n\t\"b\" : \"\\u00e9  x\" , \"c\":[ 1e+2 , -0 ] } ", `{"a":1.50,"b":"\u00e9  x","c":[1e+2,-0]}`},
		{`"  \" "`, `"  \" "`},
		{`[ "\\" , "a" ]`, `["\\","a"]`},
		{`"<&>"`, `"<&>"`},
	}
	for _, tc := range tests {
		got, err := Compact([]byte("prefix"), []byte(tc.in))
		if err != nil || string(got) != "prefix"+tc.want {
			t.Fatalf("Compact(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := Compact(nil, []byte(`{ "a" `)); err != ErrSyntax {
		t.Fatalf("Compact of bad JSON: %v", err)
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{`"abc"`, "abc", true},
		{` "a\"b" `, `a"b`, true},
		{`"\u00e9\ud83d\ude00"`, "é😀", true},
		{`""`, "", true},
		{`1`, "", false},
		{`"abc`, "", false},
		{`"a" "b"`, "", false},
		{`"a"x`, "", false},
		{`"\"`, "", false},
		{``, "", false},
	}
	for _, tc := range tests {
		got, ok := String([]byte(tc.in))
		if ok != tc.ok || got != tc.want {
			t.Fatalf("String(%q) = %q, %v", tc.in, got, ok)
		}
	}
}

// stdString encodes s with encoding/json, without HTML escaping and with
// U+2028/U+2029 left raw, as AppendString does.
func stdString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	out := strings.TrimSuffix(b.String(), "\n")
	return strings.NewReplacer(`\u2028`, "\u2028", `\u2029`, "\u2029").Replace(out)
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{
		"", "abc", `"quoted" \back\ /slash`, "\n\r\t\b\f\x00\x01\x1f\x7f",
		"<a href='x'>&amp;</a>", "é ü 中文 😀", "\u2028\u2029", "a\xffb", "\xed\xa0\x80", "x\xc3",
	} {
		got := string(AppendString([]byte("p"), s))
		if want := "p" + stdString(s); got != want {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
		var back string
		if err := json.Unmarshal([]byte(got[1:]), &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: %v", s, got, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("AppendString(%q) decodes to %q", s, back)
		}
	}
}

// stringEndByByte is stringEnd written the plain way, the reference the
// fuzz target holds the fast one to.
func stringEndByByte(data []byte, i int) (int, error) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, ErrSyntax
}

func FuzzRawJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[true,null,"x"]}`,
		` { "\u00e9" : { "k" : [ 1.50 , -2e-3 ] } , "z" : "\"\\" } `,
		`[1, {"a":"]"}, []]`,
		`"str\u2028"`,
		`{"a":`,
		`"a\\\"b\\\\" "\\"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Invalid input may be rejected but must not panic.
		valid := json.Valid(data)
		if got, want := Valid(data), valid && utf8.Valid(data); got != want {
			t.Fatalf("Valid(%q) = %v, encoding/json and utf8 say %v", data, got, want)
		}
		for i, c := range data {
			if c == '"' {
				gotEnd, gotErr := stringEnd(data, i)
				wantEnd, wantErr := stringEndByByte(data, i)
				if gotEnd != wantEnd || (gotErr == nil) != (wantErr == nil) {
					t.Fatalf("stringEnd(%q, %d) = %d, %v; stepping byte by byte gives %d, %v", data, i, gotEnd, gotErr, wantEnd, wantErr)
				}
			}
		}
		compact, cerr := Compact(nil, data)
		if valid && cerr != nil {
			t.Fatalf("Compact(%q) err %v, valid %v", data, cerr, valid)
		}
		var keys []string
		rebuilt := []byte{'{'}
		merr := Members(data, func(m Member) error {
			keys = append(keys, m.Key)
			if len(rebuilt) > 1 {
				rebuilt = append(rebuilt, ',')
			}
			rebuilt = append(rebuilt, m.RawKey...)
			rebuilt = append(rebuilt, ':')
			var err error
			rebuilt, err = Compact(rebuilt, m.Value)
			return err
		})
		rebuilt = append(rebuilt, '}')
		elems := []byte{'['}
		eerr := Elements(data, func(v []byte) error {
			if len(elems) > 1 {
				elems = append(elems, ',')
			}
			var err error
			elems, err = Compact(elems, v)
			return err
		})
		elems = append(elems, ']')
		String(data)
		trimmed := bytes.TrimLeft(data, " \t\r\n")
		ValueEnd(data, len(data)-len(trimmed))

		if !valid {
			return
		}
		if end, err := ValueEnd(data, len(data)-len(trimmed)); err != nil || len(bytes.TrimSpace(data[end:])) != 0 {
			t.Fatalf("ValueEnd(%q) = %d, %v", data, end, err)
		}
		switch trimmed[0] {
		case '{':
			if merr != nil || !bytes.Equal(rebuilt, compact) {
				t.Fatalf("Members(%q): %v, rebuilt %q, want %q", data, merr, rebuilt, compact)
			}
			var obj map[string]json.RawMessage
			json.Unmarshal(data, &obj)
			for _, k := range keys {
				if _, ok := obj[k]; !ok {
					t.Fatalf("Members(%q): key %q not in encoding/json's decoding", data, k)
				}
			}
		case '[':
			if eerr != nil || !bytes.Equal(elems, compact) {
				t.Fatalf("Elements(%q): %v, rebuilt %q, want %q", data, eerr, elems, compact)
			}
		case '"':
			var want string
			json.Unmarshal(data, &want)
			if s, ok := String(data); !ok || s != want {
				t.Fatalf("String(%q) = %q, %v; want %q", data, s, ok, want)
			}
			if utf8.Valid(data) {
				enc := AppendString(nil, want)
				if string(enc) != stdString(want) {
					t.Fatalf("AppendString(%q) = %s, want %s", want, enc, stdString(want))
				}
			}
		default:
			if merr != ErrNotObject {
				t.Fatalf("Members(%q) err %v", data, merr)
			}
		}
	})
}

func TestValid(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{`{"a":1}`, true},
		{" \t\r\n{ \"a\" : [1, 2.5e-3, true, null] } \n", true},
		{`{"a":1,"a":2}`, true}, // duplicate names, as CouchDB keeps them
		{`"\ud800"`, true},      // an escaped lone surrogate, as encoding/json allows
		{`"é"`, true},
		{"\"\xff\"", false}, // invalid UTF-8
		{"\"\xed\xa0\x80\"", false},
		{`{"a":1}{}`, false},
		{`{"a":1,}`, false},
		{`[01]`, false},
		{`{'a':1}`, false},
		{``, false},
		{` `, false},
		{`nul`, false},
	} {
		if got := Valid([]byte(c.in)); got != c.want {
			t.Errorf("Valid(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func BenchmarkValid(b *testing.B) {
	data := []byte(`{"docs":[`)
	for i := range 1000 {
		if i > 0 {
			data = append(data, ',')
		}
		data = fmt.Appendf(data, `{"_id":"doc-%06d","n":%d,"payload":"%s"}`, i, i, strings.Repeat("abcdefghij", 95))
	}
	data = append(data, "]}"...)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if !Valid(data) {
			b.Fatal("invalid")
		}
	}
}
