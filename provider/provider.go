// Package provider defines the live-backend interface. The plan engine sees
// only this interface; backends (local, webhook, sql) implement it.
package provider

import (
	"context"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/plan"
)

// Provider is a live Bitrix24 portal (or a stand-in for one).
type Provider interface {
	// Describe names the backend for humans, with secrets redacted
	// ("local: .b24perm/portal.json").
	Describe() string
	// Read returns the live graph in normal form: objects with live IDs,
	// keys derived from names (the plan engine re-keys them through state),
	// subjects in canonical form, and the Directory.
	Read(ctx context.Context) (*graph.Graph, error)
	// Apply makes the changes, in order, reporting each outcome through
	// req.Report as it happens. Transactional backends report after commit.
	// It stops at the first failure and returns it; changes not reported
	// were not attempted.
	Apply(ctx context.Context, req ApplyRequest) error
	// Capabilities says what the backend can read and write.
	Capabilities() Capabilities
}

// PipelineDefaulter is a backend that knows which rights the portal gives
// its existing CRM roles when a pipeline is created (Bitrix writes default
// rows for every role): plan.Options.PipelineDefaults.
type PipelineDefaulter interface {
	PipelineDefaults(roleID int64, entity string, smartTypeID int64) []graph.CRMPerm
}

// Locker is a backend that serializes its writers across processes (the
// local portal file). Apply holds the lock across the last re-read of the
// portal, the staleness check and the write, so that two applies never
// both write from the same read. Lock waits until ctx is done.
type Locker interface {
	Lock(ctx context.Context) (unlock func() error, err error)
}

// ApplyRequest is one apply.
type ApplyRequest struct {
	Changes []plan.Change
	// IDs maps addresses to live IDs known before the apply (from state and
	// the plan); Apply adds the IDs of created objects as it goes, so later
	// changes (a role on a new pipeline) can refer to them.
	IDs map[string]int64
	// Report is called once per attempted change, in order.
	Report func(Result)
	// ReportBatch, when set, may be called instead of Report with the
	// outcomes of several changes known together (a REST batch and its
	// read-back), in order: the caller records them at once (one state
	// save instead of one per change). A provider calls it before it
	// writes anything more, so a crash loses no more than with Report.
	ReportBatch func([]Result)
}

// Result is the outcome of one change.
type Result struct {
	Index   int
	Address string
	// ID is the live ID after the change (the new ID on create).
	ID  int64
	Err error
}

// Capabilities lists, per resource kind, what a backend can do.
type Capabilities struct {
	Read  map[graph.Kind]bool
	Write map[graph.Kind]bool
	// Transactional backends apply all changes or none.
	Transactional bool
}

// CanRead reports whether kind k can be read back from the portal.
func (c Capabilities) CanRead(k graph.Kind) bool { return c.Read[k] }

// CanWrite reports whether kind k is writable.
func (c Capabilities) CanWrite(k graph.Kind) bool { return c.Write[k] }

// All returns capabilities for a backend that reads and writes everything.
func All(transactional bool) Capabilities {
	c := Capabilities{Read: map[graph.Kind]bool{}, Write: map[graph.Kind]bool{}, Transactional: transactional}
	for _, k := range graph.Kinds {
		c.Read[k] = true
		c.Write[k] = true
	}
	return c
}
