package acrapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/moat-registry/moat/internal/oci/errcode"
	"github.com/moat-registry/moat/internal/store/meta"
)

// Page sizes: without n a page has defaultPage items; n is capped at maxPage.
const (
	defaultPage = 100
	maxPage     = 1000
)

// listing is a parsed list request: n, last and orderby.
type listing struct {
	meta.Page
	orderBy string // as given, for the Link
	// cursor: last names an item but carries no time (a client wrote it);
	// the list looks the time up.
	needTime bool
}

// parseListing reads n, last and orderby (orderby only where the endpoint
// has it). In time order the Link's last is "<unix nanoseconds>~<name>",
// the position in that order; a bare name (as a client may send) is looked
// up instead.
func parseListing(r *http.Request, ordered bool) (listing, error) {
	q := r.URL.Query()
	l := listing{Page: meta.Page{N: defaultPage, After: q.Get("last")}}
	if q.Has("n") {
		n, err := strconv.Atoi(q.Get("n"))
		if err != nil || n < 0 {
			return l, errcode.New(errcode.PaginationInvalid, "query parameter n=%q must be a non-negative integer", q.Get("n"))
		}
		l.N = min(n, maxPage)
	}
	if !ordered {
		return l, nil
	}
	switch l.orderBy = q.Get("orderby"); l.orderBy {
	case "", "none":
		l.Order = meta.ByName
	case "timedesc":
		l.Order = meta.ByTimeDesc
	case "timeasc":
		l.Order = meta.ByTimeAsc
	default:
		return l, errcode.New(errcode.PaginationInvalid, "orderby=%q is not an order: use timedesc, timeasc or none", l.orderBy)
	}
	if l.Order == meta.ByName || l.After == "" {
		return l, nil
	}
	if ns, name, ok := strings.Cut(l.After, "~"); ok {
		t, err := strconv.ParseInt(ns, 10, 64)
		if err != nil {
			return l, errcode.New(errcode.PaginationInvalid, "last=%q is not a position of this listing: start it again without last", l.After)
		}
		l.After, l.AfterTime = name, time.Unix(0, t)
		return l, nil
	}
	l.needTime = true
	return l, nil
}

// link sets the Link header of the next page, after the item (name, at),
// when the page was full.
func (l listing) link(w http.ResponseWriter, r *http.Request, full bool, name string, at time.Time) {
	if !full || l.N == 0 {
		return
	}
	q := url.Values{"n": {strconv.Itoa(l.N)}, "last": {name}}
	if l.Order != meta.ByName {
		q.Set("last", strconv.FormatInt(at.UnixNano(), 10)+"~"+name)
	}
	if l.orderBy != "" {
		q.Set("orderby", l.orderBy)
	}
	w.Header().Set("Link", "<"+r.URL.Path+"?"+q.Encode()+`>; rel="next"`)
}
