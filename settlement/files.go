package settlement

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/qrpay/qrpay/errs"
	"github.com/qrpay/qrpay/postgres"
)

// FileKey names one merchant's file for one business day.
type FileKey struct {
	MerchantID string
	Date       string // YYYY-MM-DD
}

// Files keeps settlement files. Write must be atomic: readers see the old
// file or the whole new one, never a part.
type Files interface {
	// Write stores what write produces under key, replacing any earlier file.
	Write(ctx context.Context, key FileKey, write func(w io.Writer) error) (size int64, sha string, err error)
	// Open streams a stored file.
	Open(ctx context.Context, key FileKey) (io.ReadCloser, error)
}

// hashingWriter counts and hashes what passes through it.
type hashingWriter struct {
	w    io.Writer
	sum  hashState
	size int64
}

type hashState interface {
	io.Writer
	Sum([]byte) []byte
}

func newHashingWriter(w io.Writer) *hashingWriter { return &hashingWriter{w: w, sum: sha256.New()} }

func (h *hashingWriter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	h.sum.Write(p[:n])
	h.size += int64(n)
	return n, err
}

func (h *hashingWriter) hex() string { return hex.EncodeToString(h.sum.Sum(nil)) }

// DirFiles keeps files in a directory: written to a temporary file, synced,
// then renamed into place, which is atomic on POSIX file systems.
type DirFiles struct{ Dir string }

func (d DirFiles) path(k FileKey) string {
	return filepath.Join(d.Dir, k.MerchantID, k.Date+".csv")
}

// Write implements Files.
func (d DirFiles) Write(_ context.Context, k FileKey, write func(io.Writer) error) (int64, string, error) {
	final := d.path(k)
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return 0, "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(final), ".settlement-*.tmp")
	if err != nil {
		return 0, "", err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	buf := bufio.NewWriterSize(tmp, 256<<10)
	hw := newHashingWriter(buf)
	err = write(hw)
	if err == nil {
		err = buf.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		return 0, "", fmt.Errorf("write settlement file: %w", err)
	}
	return hw.size, hw.hex(), nil
}

// Open implements Files.
func (d DirFiles) Open(_ context.Context, k FileKey) (io.ReadCloser, error) {
	f, err := os.Open(d.path(k))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errs.E(errs.NotFound, "settlement file not found")
	}
	return f, err
}

// PGFiles keeps files in PostgreSQL as 256 KiB chunks, written in one
// transaction (so replacing a file is atomic) and read chunk by chunk (so a
// large file is never held in memory).
type PGFiles struct{ Pool *postgres.DB }

const chunkSize = 256 << 10

// Write implements Files.
func (p PGFiles) Write(ctx context.Context, k FileKey, write func(io.Writer) error) (int64, string, error) {
	var size int64
	var sum string
	err := postgres.InTx(ctx, p.Pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM settlement_file_chunks WHERE merchant_id = $1 AND business_date = $2`,
			k.MerchantID, k.Date); err != nil {
			return err
		}
		cw := &chunkWriter{ctx: ctx, tx: tx, key: k, buf: make([]byte, 0, chunkSize)}
		buf := bufio.NewWriterSize(cw, chunkSize)
		hw := newHashingWriter(buf)
		if err := write(hw); err != nil {
			return err
		}
		if err := buf.Flush(); err != nil {
			return err
		}
		if err := cw.flush(); err != nil {
			return err
		}
		size, sum = hw.size, hw.hex()
		return nil
	})
	if err != nil {
		return 0, "", fmt.Errorf("write settlement file: %w", err)
	}
	return size, sum, nil
}

type chunkWriter struct {
	ctx context.Context
	tx  pgx.Tx
	key FileKey
	seq int
	buf []byte
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := chunkSize - len(c.buf)
		take := min(room, len(p))
		c.buf = append(c.buf, p[:take]...)
		p = p[take:]
		if len(c.buf) == chunkSize {
			if err := c.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (c *chunkWriter) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.tx.Exec(c.ctx, `INSERT INTO settlement_file_chunks (merchant_id, business_date, seq, data) VALUES ($1, $2, $3, $4)`,
		c.key.MerchantID, c.key.Date, c.seq, c.buf)
	c.seq++
	c.buf = c.buf[:0]
	return err
}

// Open implements Files.
func (p PGFiles) Open(ctx context.Context, k FileKey) (io.ReadCloser, error) {
	var n int
	if err := p.Pool.QueryRow(ctx, `SELECT count(*) FROM settlement_file_chunks WHERE merchant_id = $1 AND business_date = $2`,
		k.MerchantID, k.Date).Scan(&n); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errs.E(errs.NotFound, "settlement file not found")
	}
	return &chunkReader{ctx: ctx, pool: p.Pool, key: k, chunks: n}, nil
}

// chunkReader reads a file one chunk (one query) at a time.
type chunkReader struct {
	ctx    context.Context
	pool   *postgres.DB
	key    FileKey
	seq    int
	chunks int
	cur    []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.seq >= r.chunks {
			return 0, io.EOF
		}
		if err := r.pool.QueryRow(r.ctx, `SELECT data FROM settlement_file_chunks
			WHERE merchant_id = $1 AND business_date = $2 AND seq = $3`, r.key.MerchantID, r.key.Date, r.seq).Scan(&r.cur); err != nil {
			return 0, err
		}
		r.seq++
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *chunkReader) Close() error { return nil }
