package main

import (
	"bytes"
	"log/slog"
	"testing"
)

func TestParseListenLine(t *testing.T) {
	for _, tc := range []struct {
		name, line, want string
	}{
		{"text", `time=2025-01-02T03:04:05.678Z level=INFO msg="http listening" addr=127.0.0.1:41234 node=divan@127.0.0.1` + "\n", "127.0.0.1:41234"},
		{"text addr last", `level=INFO msg="http listening" addr=127.0.0.1:5984`, "127.0.0.1:5984"},
		{"text quoted", `level=INFO msg="http listening" addr="[::1]:5984" node=x`, "[::1]:5984"},
		{"text addr inside value", `level=INFO msg="http listening" node="x addr=bad" peer_addr=bad addr=127.0.0.1:1`, "127.0.0.1:1"},
		{"json", `{"time":"2025-01-02T03:04:05Z","level":"INFO","msg":"http listening","addr":"127.0.0.1:35001","node":"n"}`, "127.0.0.1:35001"},
		{"other message", `level=INFO msg="divan started" addr=127.0.0.1:1`, ""},
		{"no addr", `level=INFO msg="http listening" node=x`, ""},
		{"only suffixed addr", `level=INFO msg="http listening" peer_addr=1.2.3.4:5`, ""},
		{"empty addr", `level=INFO msg="http listening" addr= node=x`, ""},
		{"bad quote", `level=INFO msg="http listening" addr="127.0.0.1:1`, ""},
		{"json other", `{"msg":"request","addr":"127.0.0.1:1"}`, ""},
		{"empty", ``, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseListenLine(tc.line)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("parseListenLine(%q) = %q, %v; want %q", tc.line, got, ok, tc.want)
			}
		})
	}
}

func TestCopyStderrFindsAddress(t *testing.T) {
	n := &node{log: slog.New(slog.DiscardHandler)}
	in := "level=INFO msg=\"divan started\"\nlevel=INFO msg=\"http listening\" addr=127.0.0.1:9\nlevel=INFO msg=\"http listening\" addr=127.0.0.1:10\nlast line without newline"
	var out bytes.Buffer
	addrs := make(chan string, 1)
	n.copyStderr(bytes.NewBufferString(in), &out, addrs)
	if got := <-addrs; got != "127.0.0.1:9" {
		t.Errorf("address %q, want the first one", got)
	}
	if out.String() != in {
		t.Errorf("log copy differs:\n%q", out.String())
	}
	if tail := n.lastOutput(); !bytes.HasSuffix([]byte(tail), []byte("\nlast line without newline")) {
		t.Errorf("tail %q", tail)
	}
}
