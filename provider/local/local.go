package local

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"github.com/b24perm/b24perm/internal/atomicfile"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
	"github.com/b24perm/b24perm/provider"
	"github.com/b24perm/b24perm/provider/bitrix"
	"github.com/rogpeppe/go-internal/lockedfile"
)

// DefaultPath is where the local backend keeps its portal.
const DefaultPath = ".b24perm/portal.json"

// demoPortal is the demo portal as Bitrix stores it (package bitrix's
// table model); init writes it.
//
//go:embed demo/portal.json
var demoPortal []byte

// DemoPortal returns the embedded demo portal file (bitrix table model).
func DemoPortal() []byte { return demoPortal }

// DemoTables returns a fresh copy of the demo portal's tables.
func DemoTables() (*bitrix.Portal, error) { return bitrix.Decode(demoPortal, "the demo portal") }

// ParseSpec recognizes "local:PATH" (empty PATH = DefaultPath).
func ParseSpec(spec string) (path string, ok bool) {
	rest, ok := strings.CutPrefix(spec, "local:")
	if !ok {
		return "", false
	}
	if rest == "" {
		rest = DefaultPath
	}
	return rest, true
}

// Init writes the demo portal to path; it refuses to overwrite an existing
// portal unless force is set.
func Init(path string, force bool) error {
	if _, err := os.Stat(path); err == nil && !force {
		return fmt.Errorf("%s already exists; use --force to replace it with the demo portal", path)
	}
	return atomicfile.Write(path, demoPortal, true)
}

// DemoName is the portal name the demo portal's file carries; IsDemo
// recognizes the file by it, also after applies changed its roles.
const DemoName = "demo.bitrix24.example"

// IsDemo reports whether the portal file at path is the demo portal (made
// by init or --live demo). It reads only the file's head, where the
// encoder writes the portal's name, so it costs nothing on an XL file.
func IsDemo(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	return bytes.Contains(head[:n], []byte(`"portal": "`+DemoName+`"`))
}

// EnsureExists creates the demo portal at path on first use.
func EnsureExists(path string) (created bool, err error) {
	_, err = os.Stat(path)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, Init(path, false)
}

// Provider is the local backend.
type Provider struct {
	path string
	// demo: the file is the demo portal (IsDemo when New opened it).
	demo bool
	// Anomalies of the last Read: rows Bitrix would never write, and
	// notes on the read (an upgraded file).
	Anomalies []string
	// Unmanaged are the roles and permission rows of the last Read that
	// b24perm reads and keeps but does not manage.
	Unmanaged []plan.Unmanaged
	// read is the portal as the last Read saw it, and sum the digest of
	// the file it was decoded from (summed is false when Read upgraded
	// the file): Unchanged and Apply recognise the same bytes and skip
	// decoding them again. Apply consumes read (it applies the changes to
	// it).
	read   *bitrix.Portal
	sum    uint64
	summed bool
}

// fileSeed keys the digests of portal files (Provider.sum): a maphash,
// ten times cheaper than SHA-256 on a 60 MB portal, with a seed chosen
// at random by each process, so no file can be made to collide with
// another's digest but by a 2⁻⁶⁴ chance.
var fileSeed = maphash.MakeSeed()

// fileSum is the digest of the file at path, read through a small buffer.
func fileSum(path string) (uint64, error) {
	var h maphash.Hash
	h.SetSeed(fileSeed)
	if err := atomicfile.CopyRegular(path, MaxFileSize, &h); err != nil {
		return 0, err
	}
	return h.Sum64(), nil
}

var (
	_ provider.Provider          = (*Provider)(nil)
	_ provider.Locker            = (*Provider)(nil)
	_ provider.PipelineDefaulter = (*Provider)(nil)
)

// PipelineDefaults returns the cells the portal of the last Read gives an
// existing role on a new pipeline (bitrix.Portal.DefaultCells).
func (p *Provider) PipelineDefaults(roleID int64, entity string, smartTypeID int64) []graph.CRMPerm {
	if p.read == nil {
		return nil
	}
	return p.read.DefaultCells(roleID, entity, smartTypeID)
}

// New returns the local backend for the portal file at path.
func New(path string) *Provider { return &Provider{path: path, demo: IsDemo(path)} }

// Path is the portal file.
func (p *Provider) Path() string { return p.path }

// Describe names the backend.
// The demo portal says so, so that the plan's header (the PR comment's
// first line, the saved plan's backend) never passes it for a real portal.
func (p *Provider) Describe() string {
	if p.demo {
		return "local: " + p.path + plan.DemoBackendSuffix
	}
	return "local: " + p.path
}

// Capabilities: the local portal reads and writes everything, all or
// nothing.
func (p *Provider) Capabilities() provider.Capabilities { return provider.All(true) }

// LockedError says another process holds the portal's write lock.
type LockedError struct{ Path string }

func (e *LockedError) Error() string {
	return fmt.Sprintf("the local portal %s is being written by another b24perm (it holds %s.lock); nothing was applied: try again when it has finished", e.Path, e.Path)
}

// Lock takes the portal's write lock: an OS lock (go-internal/lockedfile,
// as the state lock) on PATH.lock, which the OS drops if the holder dies.
// It waits until ctx is done, then fails with a LockedError.
func (p *Provider) Lock(ctx context.Context) (func() error, error) {
	type res struct {
		fh  *lockedfile.File
		err error
	}
	lockPath := p.path + ".lock"
	got := make(chan res, 1)
	go func() {
		fh, err := lockedfile.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
		got <- res{fh, err}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			return nil, fmt.Errorf("locking the local portal: %w", r.err)
		}
		return r.fh.Close, nil
	case <-ctx.Done():
		go func() {
			if r := <-got; r.fh != nil {
				r.fh.Close()
			}
		}()
		return nil, &LockedError{Path: p.path}
	}
}

// Read loads the portal and returns its live graph. Rows that do not fit
// the model are skipped and listed in p.Anomalies. A file in the first,
// simplified format is upgraded to the table model once, here: the new
// file replaces it and the old one is kept as PATH.backup.
func (p *Provider) Read(ctx context.Context) (*graph.Graph, error) {
	p.Anomalies, p.Unmanaged, p.read, p.summed = nil, nil, nil, false
	// A writer killed mid-save left its temp file: remove it.
	atomicfile.CleanStale(p.path)
	b, err := atomicfile.ReadRegular(p.path, MaxFileSize)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no portal at %s: run `b24perm init` to create the demo portal", p.path)
		}
		return nil, err
	}
	bp, err := p.tables(b)
	if err != nil {
		return nil, err
	}
	p.read = bp
	if bitrix.IsPortalFile(b) {
		p.sum, p.summed = maphash.Bytes(fileSeed, b), true
	}
	g, anomalies := bitrix.Read(bp)
	notes, unmanaged := bitrix.Notes(anomalies)
	p.Anomalies = append(p.Anomalies, notes...)
	p.Unmanaged = unmanaged
	return g, nil
}

// tables decodes the portal file b, upgrading (and rewriting) a file in
// the simplified format.
func (p *Provider) tables(b []byte) (*bitrix.Portal, error) {
	if bitrix.IsPortalFile(b) {
		return bitrix.Decode(b, p.path)
	}
	bp, lost, err := upgrade(b, p.path)
	if err != nil {
		return nil, err
	}
	out, err := bp.Encode()
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(p.path, out, true); err != nil {
		return nil, fmt.Errorf("writing the upgraded %s: %w", p.path, err)
	}
	p.Anomalies = append(p.Anomalies, fmt.Sprintf("%s was in the first, simplified portal format: upgraded it to the %s table model (the old file is %s.backup)", p.path, bitrix.FormatName, p.path))
	for _, a := range lost {
		p.Anomalies = append(p.Anomalies, "not carried over by the upgrade: "+a)
	}
	return bp, nil
}

// upgrade converts a portal file in the simplified format to the table
// model: the graph it holds is created in the tables as the UI would
// (bitrix.FromGraph), keeping the IDs of roles, workgroups, open channels
// and pipelines; lost lists what the old file held that has no place in
// the graph.
func upgrade(b []byte, path string) (bp *bitrix.Portal, lost []string, err error) {
	legacy, err := parsePortal(b, path)
	if err != nil {
		return nil, nil, err
	}
	g, lost := legacy.ToGraph()
	name := legacy.Portal
	if name == "" {
		name = "portal"
	}
	bp, err = bitrix.FromGraph(g, name)
	if err != nil {
		return nil, nil, fmt.Errorf("upgrading %s to the %s table model: %w", path, bitrix.FormatName, err)
	}
	return bp, lost, nil
}

// Apply applies all changes in memory and then writes the portal once, so
// an apply is all or nothing: a failure or a crash before the write leaves
// the portal as it was. Results are reported after the write; on a
// failure only the failed change is reported.
func (p *Provider) Apply(ctx context.Context, req provider.ApplyRequest) error {
	bp, err := p.unchanged()
	if err != nil {
		return err
	}
	p.read, p.summed = nil, false
	if bp == nil {
		b, err := atomicfile.ReadRegular(p.path, MaxFileSize)
		if err != nil {
			return err
		}
		if bp, err = p.tables(b); err != nil {
			return err
		}
	}
	return p.applyTables(ctx, bp, req)
}

// Unchanged reports whether the portal file holds the bytes the last Read
// decoded: then a new Read would return the same graph. Apply re-checks
// its plan's basis with it, holding the portal's lock, instead of
// decoding and reading the file again.
func (p *Provider) Unchanged() (bool, error) {
	bp, err := p.unchanged()
	return bp != nil, err
}

// unchanged returns the portal of the last Read if the file still holds
// the bytes it was decoded from, else nil.
func (p *Provider) unchanged() (*bitrix.Portal, error) {
	if p.read == nil || !p.summed {
		return nil, nil
	}
	sum, err := fileSum(p.path)
	if err != nil || sum != p.sum {
		return nil, err
	}
	return p.read, nil
}

// applyTables applies req to a portal file in the bitrix table model.
func (p *Provider) applyTables(ctx context.Context, bp *bitrix.Portal, req provider.ApplyRequest) error {
	ids, err := bitrix.NewApplier(bp, req.IDs).ApplyAll(ctx, req.Changes)
	if ce := (*bitrix.ChangeError)(nil); errors.As(err, &ce) {
		ch := req.Changes[ce.Index]
		if req.Report != nil {
			req.Report(provider.Result{Index: ce.Index, Address: ch.Address, Err: ce.Err})
		}
		return fmt.Errorf("%s: %w (nothing was written: the backend applies all changes or none)", ch.Address, ce.Err)
	}
	if err != nil {
		return err
	}
	out, err := bp.Encode()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(p.path, out, true); err != nil {
		return fmt.Errorf("writing %s: %w", p.path, err)
	}
	if req.Report != nil {
		for i, id := range ids {
			req.Report(provider.Result{Index: i, Address: req.Changes[i].Address, ID: id})
		}
	}
	return nil
}

// MaxFileSize bounds a portal file (the XL demo is ~30 MB): a path to a
// device or a FIFO is an error, not an endless read.
const MaxFileSize = 4 << 30

// LoadTables reads a portal file in the bitrix table model; a corrupt file
// gives an error naming the file, line, column and offset. A file in the
// simplified format is upgraded in memory (the file is not rewritten).
func LoadTables(path string) (*bitrix.Portal, error) {
	b, err := atomicfile.ReadRegular(path, MaxFileSize)
	if err != nil {
		return nil, err
	}
	if !bitrix.IsPortalFile(b) {
		bp, _, err := upgrade(b, path)
		return bp, err
	}
	return bitrix.Decode(b, path)
}

// SaveTables writes p to path atomically (temp file, fsync, rename, fsync
// of the directory), keeping the previous file as path.backup.
func SaveTables(path string, p *bitrix.Portal) error {
	b, err := p.Encode()
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, true)
}
