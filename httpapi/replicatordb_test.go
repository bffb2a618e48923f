package httpapi

import "testing"

func TestStripRepCredentials(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"source":"https://foo:bar@remote_server/database","target":"http://h/db","owner":"x"}`,
			`{"source":"https://remote_server/database","target":"http://h/db","owner":"x"}`},
		{`{"source":{"url":"http://h/db","headers":{"Authorization":"Basic eDp5"},"auth":{"basic":{"password":"p"}}},"x":1}`,
			`{"source":{"url":"http://h/db"},"x":1}`},
		{`{"target":{"url":"http://u:p@h/db"}}`, `{"target":{"url":"http://h/db"}}`}, // CouchDB would leave this one
		{`{"source":42,"other":"http://u:p@h"}`, `{"source":42,"other":"http://u:p@h"}`},
	} {
		if got := string(stripRepCredentials([]byte(tc.in))); got != tc.want {
			t.Errorf("stripRepCredentials(%s)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

func TestSetMember(t *testing.T) {
	for _, tc := range []struct{ in, key, val, want string }{
		{`{}`, "owner", `"bob"`, `{"owner":"bob"}`},
		{`{"a":1}`, "owner", `null`, `{"a":1,"owner":null}`},
		{`{"owner":null,"a":1}`, "owner", `"bob"`, `{"owner":"bob","a":1}`},
	} {
		if got := string(setMember([]byte(tc.in), tc.key, []byte(tc.val))); got != tc.want {
			t.Errorf("setMember(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
