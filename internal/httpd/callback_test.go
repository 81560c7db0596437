package httpd

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/provision/provision/provision"
)

func TestParseCallback(t *testing.T) {
	tests := []struct {
		name, in string
		want     Callback
		ok       bool
	}{
		{"state from the kickstart", `{"state":"installed","message":"ok"}`, Callback{Kind: "installed", Message: "ok"}, true},
		{"kind", `{"kind":"pre-start"}`, Callback{Kind: "pre-start"}, true},
		{"kind and state agree", `{"kind":"failed","state":"failed"}`, Callback{Kind: "failed"}, true},
		{"kind and state differ", `{"kind":"failed","state":"installed"}`, Callback{}, false},
		{"control characters", `{"state":"failed","message":"a\nb\u0000c"}`, Callback{Kind: "failed", Message: "a b c"}, true},
		{"unknown kind", `{"state":"rebooted"}`, Callback{}, false},
		{"no kind", `{"message":"x"}`, Callback{}, false},
		{"unknown field", `{"state":"installed","token":"x"}`, Callback{}, false},
		{"trailing data", `{"state":"installed"} {}`, Callback{}, false},
		{"not an object", `["installed"]`, Callback{}, false},
		{"empty", ``, Callback{}, false},
		{"kind not a string", `{"kind":1}`, Callback{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCallback([]byte(tt.in))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadCallback) {
				t.Fatalf("err %v is not ErrBadCallback", err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	long, err := ParseCallback([]byte(`{"state":"failed","message":"` + strings.Repeat("é", 1000) + `"}`))
	if err != nil || len(long.Message) > maxMessage || !utf8.ValidString(long.Message) {
		t.Errorf("long message: %d bytes, valid %v, err %v", len(long.Message), utf8.ValidString(long.Message), err)
	}
}

// FuzzParseCallback: any body gives a known kind and a short, printable
// message, or ErrBadCallback. Seeds are in testdata/fuzz/FuzzParseCallback.
func FuzzParseCallback(f *testing.F) {
	f.Add([]byte(`{"state":"installed","message":"done"}`))
	f.Add([]byte(`{"kind":"post-start"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		cb, err := ParseCallback(body)
		if err != nil {
			if !errors.Is(err, ErrBadCallback) {
				t.Fatalf("error not ErrBadCallback: %v", err)
			}
			return
		}
		switch cb.Kind {
		case KindPreStart, KindPostStart, KindInstalling, KindInstalled, KindFailed:
		default:
			t.Fatalf("kind %q", cb.Kind)
		}
		if len(cb.Message) > maxMessage || !utf8.ValidString(cb.Message) || strings.ContainsAny(cb.Message, "\n\r\x00") {
			t.Fatalf("message not clean: %q", cb.Message)
		}
	})
}

// FuzzBootScriptQuery sends any ?mac= value through the handler: the
// answer is a 400 or an iPXE script, never a panic or another status.
func FuzzBootScriptQuery(f *testing.F) {
	for _, s := range []string{"52:54:00:00:00:40", "52-54-00-00-01-40", "525400999999", "", "\x00", "zz"} {
		f.Add(s)
	}
	plan := testPlan(f, "http://127.0.0.1:1")
	srv := &Server{
		Plan:   func() *provision.Plan { return plan },
		Flags:  memFlags{},
		Tokens: fixedTokens{},
		MACs: func() (map[string]map[string]string, error) {
			return map[string]map[string]string{nodeName: {"em1": "52:54:00:00:00:40"}}, nil
		},
	}
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, mac string) {
		req := httptest.NewRequest("GET", "/boot.ipxe?"+url.Values{"mac": {mac}}.Encode(), nil)
		req.RemoteAddr = nodeAddr + ":4000"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 400:
		case 200:
			if !strings.HasPrefix(rec.Body.String(), "#!ipxe\n") {
				t.Fatalf("200 without a script: %q", rec.Body.String())
			}
		default:
			t.Fatalf("mac %q: status %d", mac, rec.Code)
		}
	})
}

// memFlags is an in-memory Flags with nothing set.
type memFlags struct{}

func (memFlags) Netboot(n *provision.NodePlan) (bool, error) { return n.Netboot, nil }
func (memFlags) SetFlag(string, string, bool) error          { return nil }

// fixedTokens gives every node the token "t".
type fixedTokens struct{}

func (fixedTokens) Token(string) (string, error) { return "t", nil }
func (fixedTokens) Verify(_, tok string) bool    { return tok == "t" }
