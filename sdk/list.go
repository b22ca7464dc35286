package sdk

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"net/http"
	"net/url"
	"strconv"
)

// page is the gateway's list envelope: one page of data, whether more
// follow, and the cursor to pass as starting_after for the next page.
type page[T any] struct {
	Data       []*T   `json:"data"`
	HasMore    bool   `json:"has_more"`
	NextCursor string `json:"next_cursor"`
}

// paginate yields every item of a cursor-paged list, fetching the next page
// only when the caller has ranged past the last one, so that breaking out
// early costs no further requests. A failed page is yielded as (nil, err)
// and ends the sequence. cursorOf names an item's cursor for a page that says
// has_more but carries no next_cursor.
func paginate[T any](ctx context.Context, c *Client, path string, query url.Values, cursorOf func(*T) string) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		q := maps.Clone(query) // each range starts from the first page
		if q == nil {
			q = url.Values{}
		}
		for {
			var p page[T]
			if err := c.call(ctx, request{method: http.MethodGet, path: path, query: q}, &p); err != nil {
				yield(nil, err)
				return
			}
			for _, item := range p.Data {
				if !yield(item, nil) {
					return
				}
			}
			if !p.HasMore || len(p.Data) == 0 {
				return
			}
			next := p.NextCursor
			if next == "" {
				next = cursorOf(p.Data[len(p.Data)-1])
			}
			// A cursor that does not move would page forever.
			if next == "" || next == q.Get("starting_after") {
				yield(nil, fmt.Errorf("qrpay: GET %s: has_more without a new cursor (%q)", path, next))
				return
			}
			q.Set("starting_after", next)
		}
	}
}

// setPaging adds the paging parameters every list shares.
func setPaging(q url.Values, limit int, startingAfter string) {
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if startingAfter != "" {
		q.Set("starting_after", startingAfter)
	}
}
