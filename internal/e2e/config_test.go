package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/divandb/divan/internal/testnode"
)

// selfSigned writes a certificate for 127.0.0.1 and its key to dir and
// returns their paths and a pool trusting the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "divan test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}

// freePort finds a free port in the range these tests may use.
func freePort(t *testing.T) int {
	t.Helper()
	for p := 25700; p < 25999; p++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			ln.Close()
			return p
		}
	}
	t.Fatal("no free port in 25700-25999")
	return 0
}

func TestConfigAPIEndToEnd(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	tlsPort := freePort(t)
	n := testnode.Start(t, testnode.Options{Config: fmt.Sprintf(
		"[ssl]\nenable = true\ncert_file = %s\nkey_file = %s\nport = %d\n", certFile, keyFile, tlsPort)})
	c := n.Client()

	// PUT a value: the answer is the old value; it lands in local.ini.
	_, body := c.Expect(t, 200, "PUT", "/_node/_local/_config/uuids/algorithm", `"random"`)
	if strings.TrimSpace(string(body)) != `"sequential"` {
		t.Fatalf("PUT answered %s", body)
	}
	c.Expect(t, 200, "PUT", "/_node/_local/_config/e2e/kept", `"yes"`)
	c.Expect(t, 200, "PUT", "/_node/_local/_config/e2e/gone", `"memory only"`, "X-Couch-Persist", "false")
	// Runtime apply: uuids are now random (32 hex, no shared prefix).
	var u struct{ UUIDs []string }
	c.ExpectJSON(t, 200, "GET", "/_uuids?count=2", nil, &u)
	if len(u.UUIDs) != 2 || u.UUIDs[0][:26] == u.UUIDs[1][:26] {
		t.Fatalf("uuids after switching to random: %v", u.UUIDs)
	}

	// A new admin logs in at once, and GET shows its hash.
	c.Expect(t, 200, "PUT", "/_node/_local/_config/admins/carol", `"carol-pass"`)
	var sess map[string]any
	n.ClientAs("carol", "carol-pass").ExpectJSON(t, 200, "GET", "/_session", nil, &sess)
	if ctx, _ := sess["userCtx"].(map[string]any); ctx["name"] != "carol" {
		t.Fatalf("_session as carol: %v", sess)
	}
	_, body = c.Expect(t, 200, "POST", "/_session", map[string]string{"name": "carol", "password": "carol-pass"})
	_, hash := c.Expect(t, 200, "GET", "/_node/_local/_config/admins/carol", nil)
	if !strings.HasPrefix(string(hash), `"-pbkdf2:sha256-`) {
		t.Fatalf("admin not hashed: %s", hash)
	}

	// CORS, switched on at runtime: a preflight needs no credentials.
	c.Expect(t, 200, "PUT", "/_node/_local/_config/cors/origins", `"http://app.example"`)
	c.Expect(t, 200, "PUT", "/_node/_local/_config/chttpd/enable_cors", `"true"`)
	h, _ := n.AnonClient().Expect(t, 204, "OPTIONS", "/db", nil,
		"Origin", "http://app.example", "Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "content-type")
	if h.Get("Access-Control-Allow-Origin") != "http://app.example" || h.Get("Access-Control-Allow-Headers") != "content-type" {
		t.Fatalf("preflight headers: %v", h)
	}

	// HTTPS beside HTTP, same API; the session cookie is Secure there.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequest("POST", fmt.Sprintf("https://127.0.0.1:%d/_session", tlsPort),
		strings.NewReader(`{"name":"carol","password":"carol-pass"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("https request: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Set-Cookie"), "; Secure") {
		t.Fatalf("https _session: %d %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}

	// Restart: persisted values survive, unpersisted ones do not.
	n.Restart()
	local, err := os.ReadFile(filepath.Join(n.DataDir(), "local.ini"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[e2e]", "kept", "algorithm", "carol", "-pbkdf2:sha256-"} {
		if !strings.Contains(string(local), want) {
			t.Fatalf("local.ini lacks %q:\n%s", want, local)
		}
	}
	if strings.Contains(string(local), "carol-pass") || strings.Contains(string(local), "memory only") {
		t.Fatalf("local.ini holds what it must not:\n%s", local)
	}
	var all map[string]map[string]string
	c.ExpectJSON(t, 200, "GET", "/_node/_local/_config", nil, &all)
	if all["e2e"]["kept"] != "yes" || all["uuids"]["algorithm"] != "random" || all["e2e"]["gone"] != "" {
		t.Fatalf("after restart: e2e=%v uuids=%v", all["e2e"], all["uuids"])
	}
	n.ClientAs("carol", "carol-pass").Expect(t, 200, "GET", "/_session", nil)
	c.Expect(t, 404, "GET", "/_node/_local/_config/e2e/gone", nil)
	var nodeName struct{ Name string }
	c.ExpectJSON(t, 200, "GET", "/_node/_local", nil, &nodeName)
	_, body = c.Expect(t, 200, "GET", "/_node/"+nodeName.Name+"/_config/e2e/kept", nil)
	if v := ""; json.Unmarshal(body, &v) != nil || v != "yes" {
		t.Fatalf("by node name: %s", body)
	}
}
