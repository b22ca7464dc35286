package emv

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors say what kind of rule a payload broke; test for them with
// errors.Is. Every error Decode and Parse return, and every problem Problems
// lists, is a *DecodeError wrapping one of them.
var (
	// ErrTruncated means the input ends inside a data object.
	ErrTruncated = errors.New("emv: truncated payload")
	// ErrSyntax means an ID or length is not two digits, or a value is not UTF-8.
	ErrSyntax = errors.New("emv: syntax error")
	// ErrLength means a length breaks a rule: empty value, over a field's
	// maximum, or not the length a fixed-length field requires.
	ErrLength = errors.New("emv: invalid length")
	// ErrCRC means the CRC object is malformed, misplaced or does not match.
	ErrCRC = errors.New("emv: invalid CRC")
	// ErrDuplicateTag means an ID occurs twice at the same level.
	ErrDuplicateTag = errors.New("emv: duplicate tag")
	// ErrMissingTag means a mandatory data object is absent.
	ErrMissingTag = errors.New("emv: missing tag")
	// ErrFormat means a value breaks its field's content rule.
	ErrFormat = errors.New("emv: invalid value")
)

// DecodeError locates a problem in a payload so that a support engineer can
// find it in the scanned string.
type DecodeError struct {
	// Offset is the byte offset of the offending data object in the input,
	// or -1 when the problem is an absent object.
	Offset int
	// Tag is the object's ID; sub-objects of a template are written
	// "62.05". When the ID itself could not be read, Tag names the
	// enclosing template, or is empty at the top level.
	Tag string
	// Err is one of the package's sentinel errors.
	Err error

	detail string
}

// Error says where and what, e.g. "emv: tag 54 at offset 87: length 14
// exceeds 13".
func (e *DecodeError) Error() string {
	s := "emv: "
	switch {
	case e.Tag != "" && e.Offset >= 0:
		s += "tag " + e.Tag + " at offset " + strconv.Itoa(e.Offset)
	case e.Tag != "":
		s += "tag " + e.Tag
	default:
		s += "offset " + strconv.Itoa(e.Offset)
	}
	if e.detail != "" {
		return s + ": " + e.detail
	}
	if e.Err != nil {
		return s + ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the sentinel, so errors.Is(err, ErrCRC) works.
func (e *DecodeError) Unwrap() error { return e.Err }

func errorAt(off int, tag string, sentinel error, format string, args ...any) *DecodeError {
	return &DecodeError{Offset: off, Tag: tag, Err: sentinel, detail: fmt.Sprintf(format, args...)}
}
