// Package planfile reads and writes saved plans (`plan -out FILE`). A saved
// plan carries a header (who made it, when, against which backend, state
// and policy) and a checksum over the whole canonical body, so that an
// edited or corrupted file is refused.
package planfile

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/b24perm/b24perm/internal/atomicfile"
	"io"
	"time"

	"github.com/b24perm/b24perm/plan"
)

// StateRef is the state a plan was made against.
type StateRef struct {
	Lineage string `json:"lineage,omitempty"`
	Serial  int64  `json:"serial"`
}

// Header is the readable part of a saved plan; the same values are inside
// the plan, and both are covered by the checksum.
type Header struct {
	FormatVersion int       `json:"format_version"`
	ToolVersion   string    `json:"tool_version"`
	CreatedAt     time.Time `json:"created_at"`
	Backend       string    `json:"backend"`
	PolicyDir     string    `json:"policy_dir,omitempty"`
	PolicyDigest  string    `json:"policy_digest"`
	State         StateRef  `json:"state"`
}

// File is the on-disk form.
type File struct {
	Header
	Plan     json.RawMessage `json:"plan"`
	Checksum string          `json:"checksum"`
}

// now is replaced in tests.
var now = func() time.Time { return time.Now().UTC() }

// body is what the checksum covers: the file without its checksum, in
// encoding/json's compact form.
func body(h Header, p json.RawMessage) ([]byte, error) {
	return json.Marshal(struct {
		Header
		Plan json.RawMessage `json:"plan"`
	}{h, p})
}

func checksum(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Encode returns the file form of p.
func Encode(p *plan.Plan) ([]byte, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	h := Header{
		FormatVersion: plan.FormatVersion, ToolVersion: p.ToolVersion, CreatedAt: now().Truncate(time.Second),
		Backend: p.Backend, PolicyDir: p.PolicyDir, PolicyDigest: p.PolicyDigest,
		State: StateRef{Lineage: p.StateLineage, Serial: p.StateSerial},
	}
	b, err := body(h, raw)
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(File{Header: h, Plan: raw, Checksum: checksum(b)}, "", " ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// Write saves p atomically: a temp file in the same directory, fsync,
// rename, directory fsync. On error nothing is left at path that was not
// there before.
func Write(path string, p *plan.Plan) error {
	data, err := Encode(p)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, false)
}

// MaxSize bounds a saved plan file: an XL plan is a few MB.
const MaxSize = 256 << 20

// Read loads a saved plan, refusing newer formats, truncated files and
// edited files.
func Read(path string) (*plan.Plan, error) {
	b, err := atomicfile.ReadRegular(path, MaxSize)
	if err != nil {
		return nil, err
	}
	_, p, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s %w", path, err)
	}
	return p, nil
}

// Decode parses a saved plan. Errors read well after the file's name.
func Decode(b []byte) (*Header, *plan.Plan, error) {
	var v struct {
		FormatVersion *int `json:"format_version"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		var se *json.SyntaxError
		if errors.Is(err, io.ErrUnexpectedEOF) || (errors.As(err, &se) && len(bytes.TrimSpace(b)) > 0 && se.Offset >= int64(len(bytes.TrimRight(b, " \t\r\n")))) {
			return nil, nil, errors.New("is truncated (the plan file is incomplete); run plan -out again")
		}
		return nil, nil, fmt.Errorf("is not a b24perm plan file: %v", err)
	}
	if v.FormatVersion == nil {
		return nil, nil, errors.New("is not a b24perm plan file (no format_version)")
	}
	if *v.FormatVersion > plan.FormatVersion {
		return nil, nil, fmt.Errorf("was created by a newer b24perm (plan format %d; this one reads up to %d): upgrade b24perm or run plan again", *v.FormatVersion, plan.FormatVersion)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, nil, fmt.Errorf("is not a valid plan file: %v", err)
	}
	if len(f.Plan) == 0 {
		return nil, nil, errors.New("has no plan")
	}
	var p plan.Plan
	if err := json.Unmarshal(f.Plan, &p); err != nil {
		return nil, nil, fmt.Errorf("holds an invalid plan: %v", err)
	}
	// The checksum covers the plan as b24perm understands it: re-encoded
	// from the decoded value, so reformatting is not an edit, and any
	// change of meaning is.
	canon, err := json.Marshal(&p)
	if err != nil {
		return nil, nil, fmt.Errorf("holds an invalid plan: %v", err)
	}
	sum, err := body(f.Header, canon)
	if err != nil {
		return nil, nil, fmt.Errorf("is not a valid plan file: %v", err)
	}
	if checksum(sum) != f.Checksum {
		return nil, nil, errors.New("does not match its checksum: the plan file was edited or corrupted; run plan again")
	}
	if p.PolicyDigest != f.PolicyDigest || p.Backend != f.Backend || p.StateLineage != f.State.Lineage || p.StateSerial != f.State.Serial || p.PolicyDir != f.PolicyDir {
		return nil, nil, errors.New("has a header that does not match its plan: the plan file was edited or corrupted; run plan again")
	}
	for _, cs := range [][]plan.Change{p.Changes, p.Observed} {
		for i := range cs {
			a, err := parseAddr(cs[i].Address)
			if err != nil {
				return nil, nil, fmt.Errorf("holds an invalid address: %v", err)
			}
			cs[i].Addr = a
		}
	}
	return &f.Header, &p, nil
}
