package reqlog

import (
	"log/slog"
	"strconv"
	"time"
)

// AppendText appends l as one line in slog.TextHandler's form (time in
// milliseconds, level, msg, then key=value), so that the request log reads
// and parses the same whichever writes it. One difference: a string value
// with a byte outside printable ASCII is always quoted (strconv.Quote, as slog
// quotes), where slog leaves printable Unicode bare; both read back the same.
func AppendText(b []byte, t time.Time, level slog.Level, l *Line) []byte {
	b = append(b, "time="...)
	b = appendTime(b, t)
	b = append(b, " level="...)
	b = append(b, level.String()...)
	b = append(b, " msg="+Message...)
	b = appendString(b, " requestId=", l.RequestID)
	b = appendString(b, " method=", l.Method)
	b = appendString(b, " path=", l.Path)
	b = appendString(b, " route=", l.Route)
	b = appendString(b, " registry=", l.Registry)
	b = strconv.AppendInt(append(b, " status="...), int64(l.Status), 10)
	b = append(append(b, " duration="...), l.Duration.String()...)
	b = strconv.AppendInt(append(b, " bytesIn="...), l.BytesIn, 10)
	b = strconv.AppendInt(append(b, " bytesOut="...), l.BytesOut, 10)
	b = appendString(b, " clientIp=", l.ClientIP)
	b = appendString(b, " networkPath=", l.NetworkPath)
	b = appendString(b, " listener=", l.Listener)
	b = appendString(b, " principal=", l.Principal)
	return append(b, '\n')
}

func appendString(b []byte, key, v string) []byte {
	b = append(b, key...)
	if bare(v) {
		return append(b, v...)
	}
	return strconv.AppendQuote(b, v)
}

// bare says whether v can be written unquoted: not empty, and only printable
// ASCII other than space, '=' and '"' (a key=value reader splits on those).
func bare(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c >= 0x7f || c == '=' || c == '"' {
			return false
		}
	}
	return true
}

// appendTime is t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00") (slog's
// text time) without the layout parsing, a third of the line's cost.
func appendTime(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	}
	b = appendDigits(b, year, 4)
	b = appendDigits(append(b, '-'), int(month), 2)
	b = appendDigits(append(b, '-'), day, 2)
	b = appendDigits(append(b, 'T'), hour, 2)
	b = appendDigits(append(b, ':'), min, 2)
	b = appendDigits(append(b, ':'), sec, 2)
	b = appendDigits(append(b, '.'), t.Nanosecond()/1e6, 3)
	_, off := t.Zone()
	if off == 0 {
		return append(b, 'Z')
	}
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	b = appendDigits(append(b, sign), off/3600, 2)
	return appendDigits(append(b, ':'), off/60%60, 2)
}

// appendDigits appends v (≥ 0) in exactly n decimal digits.
func appendDigits(b []byte, v, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, 0)
	}
	for i := len(b) - 1; i >= len(b)-n; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}
