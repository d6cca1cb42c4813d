package reqlog

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"
)

// slogText is the line slog.TextHandler writes for l.
func slogText(t time.Time, level slog.Level, l *Line) string {
	var buf bytes.Buffer
	r := slog.NewRecord(t, level, Message, 0)
	r.AddAttrs(l.Attrs()...)
	_ = slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}).Handle(context.Background(), r)
	return buf.String()
}

func sample() *Line {
	return &Line{RequestID: "8e6109322d50-2oxy", Method: "HEAD", Path: "/v2/reg/app/manifests/v1", Route: "manifest",
		Registry: "reg", Status: 200, Duration: 8833 * time.Nanosecond, BytesOut: 512, ClientIP: "20.199.1.2",
		NetworkPath: "public", Principal: "a1d877ab-92f3-5e01-ab36-4b96341e692c"}
}

// A line of printable ASCII is byte for byte what slog writes, at either
// level, in any time zone, whatever the milliseconds.
func TestAppendTextIsSlogText(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("x", -(3*3600 + 1800)), time.FixedZone("y", 14*3600), time.Local}
	for _, tm := range []time.Time{time.Date(2026, 12, 3, 14, 41, 52, 0, time.UTC), time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 120_000_000, time.UTC), time.Date(9, 1, 2, 3, 4, 5, 6_000_000, time.UTC)} {
		for _, z := range zones {
			for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
				l := sample()
				want := slogText(tm.In(z), level, l)
				if got := string(AppendText(nil, tm.In(z), level, l)); got != want {
					t.Fatalf("\ngot  %q\nwant %q", got, want)
				}
			}
		}
	}
	l := sample()
	l.Path, l.Registry, l.Listener, l.Method = `/v2/a b/"x"=y\z`, "", "lb", "GET\x00"
	tm := time.Now()
	if got, want := string(AppendText(nil, tm, slog.LevelInfo, l)), slogText(tm, slog.LevelInfo, l); got != want {
		t.Fatalf("quoting:\ngot  %q\nwant %q", got, want)
	}
}

// decode reads a key=value line into its pairs, unquoting quoted values.
func decode(t *testing.T, line string) []string {
	t.Helper()
	var kv []string
	s := strings.TrimSuffix(line, "\n")
	for s != "" {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			t.Fatalf("no '=' in %q", s)
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				t.Fatalf("bad quoted value in %q: %v", rest, err)
			}
			v, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
			rest = " " + rest
			if rest == " " {
				rest = ""
			}
		}
		kv = append(kv, k, v)
		s = strings.TrimPrefix(rest, " ")
	}
	return kv
}

// Whatever the client-controlled fields hold, the line reads back as the
// same keys and values as slog's, and stays one line.
func FuzzAppendText(f *testing.F) {
	f.Add("HEAD", "/v2/reg/app/manifests/v1", "p")
	f.Add("GET", "/v2/ä ö/x=\"y\"", "")
	f.Add("\x7f", "\n\t\\", "\u00a0\u2028")
	f.Add("", "\xff\xfe", "名前")
	f.Fuzz(func(t *testing.T, method, path, principal string) {
		l := sample()
		l.Method, l.Path, l.Principal = method, path, principal
		tm := time.Date(2026, 12, 3, 14, 41, 52, 123_456_789, time.UTC)
		got := string(AppendText(nil, tm, slog.LevelInfo, l))
		if strings.Count(got, "\n") != 1 {
			t.Fatalf("not one line: %q", got)
		}
		want := slogText(tm, slog.LevelInfo, l)
		g, w := decode(t, got), decode(t, want)
		if strings.Join(g, "\x00") != strings.Join(w, "\x00") {
			t.Fatalf("\ngot  %q\nwant %q", g, w)
		}
	})
}

// A handler that is a Writer gets the line; any other gets a slog record.
func TestLogUsesWriter(t *testing.T) {
	prev := slog.Default()
	defer slog.SetDefault(prev)
	w := &writer{Handler: slog.DiscardHandler}
	slog.SetDefault(slog.New(w))
	Log(context.Background(), slog.LevelInfo, sample())
	if w.n != 0 {
		t.Fatalf("a disabled level was written")
	}
	w.Handler = slog.NewTextHandler(&bytes.Buffer{}, nil)
	Log(context.Background(), slog.LevelInfo, sample())
	if w.n != 1 {
		t.Fatalf("the Writer was not used")
	}
	var buf bytes.Buffer
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, nil)))
	Log(context.Background(), slog.LevelInfo, sample())
	if !strings.Contains(buf.String(), `"msg":"request","requestId":"8e6109322d50-2oxy"`) {
		t.Fatalf("JSON line: %s", buf.String())
	}
}

type writer struct {
	slog.Handler
	n int
}

func (w *writer) WriteRequest(time.Time, slog.Level, *Line) { w.n++ }

func BenchmarkAppendText(b *testing.B) {
	l, tm, buf := sample(), time.Now(), make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendText(buf[:0], tm, slog.LevelInfo, l)
	}
}
