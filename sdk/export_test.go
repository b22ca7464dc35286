package sdk

import (
	"context"
	"time"
)

// WithSleep replaces the pause between retries, so that tests record the
// waits (and the Retry-After they honoured) instead of sitting through them.
func WithSleep(sleep func(context.Context, time.Duration) error) Option {
	return func(c *Client) { c.sleep = sleep }
}
