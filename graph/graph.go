// Package graph is the normalized permission graph: the one data model every
// front-end compiles into, every live backend reads into, and the plan and
// access engines consume. It uses only the standard library.
//
// Normal form (see Normalize): objects sorted by key, assignment sets sorted
// and de-duplicated, "none" pipeline-level CRM cells dropped (explicit
// stage rows are kept, even when equal to what they would inherit), names
// trimmed. Two graphs in normal form are
// equal exactly when their canonical JSON is byte-identical.
package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// FormatVersion is bumped only for changes that break parsers of the
// canonical JSON.
const FormatVersion = 1

// Graph is one complete permission set: desired (compiled from policy) or
// live (read from a portal). Live graphs carry IDs and a Directory; desired
// graphs carry source positions.
type Graph struct {
	FormatVersion  int            `json:"format_version"`
	Directory      *Directory     `json:"directory,omitempty"`
	SmartProcesses []SmartProcess `json:"smart_processes,omitempty"`
	Pipelines      []Pipeline     `json:"pipelines,omitempty"`
	CRMRoles       []CRMRole      `json:"crm_roles,omitempty"`
	TelephonyRoles []SimpleRole   `json:"telephony_roles,omitempty"`
	// TelephonySecurityOff: the portal's plan lacks the voximplant_security
	// feature, so Bitrix ignores the telephony roles and applies its
	// hard-coded defaults (DefaultTelephonyRoles). b24perm cannot switch
	// it; a policy states it, a live reader reports it.
	TelephonySecurityOff bool          `json:"telephony_security_off,omitempty"`
	OpenlineRoles        []SimpleRole  `json:"openline_roles,omitempty"`
	Workgroups           []Workgroup   `json:"workgroups,omitempty"`
	OpenChannels         []OpenChannel `json:"open_channels,omitempty"`
	FieldRules           []FieldRule   `json:"field_rules,omitempty"`
	Settings             *Settings     `json:"settings,omitempty"`
	Removed              []Removed     `json:"removed,omitempty"`
	Tests                []Test        `json:"tests,omitempty"`

	// Sources maps an object address (Addr.String()) or a cell source key
	// (CellSourceKey) to the policy position that declared it. It is not part
	// of the canonical JSON: the same permissions declared in CUE or HCL are
	// the same graph.
	Sources map[string]Pos `json:"-"`

	// Dropped lists stored rows of live objects that do not fit the model
	// and that an update of their object deletes (a CRM permission row
	// with an unknown ATTR, a duplicate row …): the plan lists and counts
	// them as destroys. Filled by the readers of stored tables; not part
	// of the canonical JSON.
	Dropped []DroppedRow `json:"-"`
}

// DroppedRow is a stored row an update of object (Kind, ObjectID) deletes.
type DroppedRow struct {
	Kind     Kind
	ObjectID int64
	Table    string
	Row      int64
	Problem  string
}

// Pos is a position in a policy file (1-based line and column).
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

// IsValid reports whether p names a real position.
func (p Pos) IsValid() bool { return p.File != "" && p.Line > 0 }

// String is "file:line:col".
func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// SmartProcess is a CRM smart-process type (a "dynamic" entity).
type SmartProcess struct {
	Key          string `json:"key"`
	Name         string `json:"name"`
	EntityTypeID int64  `json:"entity_type_id,omitempty"`
}

// Pipeline is a CRM category (deal pipeline, smart-process/smart-invoice
// category) with its stages. Key "default" is category 0 of the entity.
type Pipeline struct {
	Entity string  `json:"entity"`
	Key    string  `json:"key"`
	Name   string  `json:"name"`
	ID     int64   `json:"id,omitempty"`
	Stages []Stage `json:"stages,omitempty"`
}

// DefaultPipeline is the key of an entity's category 0.
const DefaultPipeline = "default"

// Stage is one stage of a pipeline. StatusID is Bitrix's STATUS_ID
// ("WON", "C3:WON"); empty in desired graphs unless declared. Semantics
// is b_crm_status.SEMANTICS of a stage read from the portal ("" in
// progress, "S" success, "F" failure, see StageSemantics); a policy does
// not state it.
type Stage struct {
	Key       string `json:"key"`
	Name      string `json:"name"`
	StatusID  string `json:"status_id,omitempty"`
	Semantics string `json:"semantics,omitempty"`
}

// CRMRole is a CRM access role with its cells and assignments.
type CRMRole struct {
	Key    string    `json:"key"`
	Name   string    `json:"name"`
	ID     int64     `json:"id,omitempty"`
	System bool      `json:"system,omitempty"`
	Assign []string  `json:"assign"`
	Perms  []CRMPerm `json:"permissions"`
	// packed holds the cells of a role read from a snapshot, Perms then
	// being nil until DecodeCells: see Cells.
	packed *packedCells
}

// CRMPerm is one cell: (entity, pipeline, stage, action) → level.
// Pipeline is "" for entities without categories; Stage is "" for the
// pipeline-level cell.
type CRMPerm struct {
	Entity   string `json:"entity"`
	Pipeline string `json:"pipeline,omitempty"`
	Stage    string `json:"stage,omitempty"`
	Action   string `json:"action"`
	Level    string `json:"level"`
}

// SimpleRole is a telephony or open-channel role: entity/action → level,
// merged across roles by maximum.
type SimpleRole struct {
	Key    string       `json:"key"`
	Name   string       `json:"name"`
	ID     int64        `json:"id,omitempty"`
	Assign []string     `json:"assign"`
	Perms  []SimplePerm `json:"permissions"`
}

// SimplePerm is one telephony/open-channel cell.
type SimplePerm struct {
	Entity string `json:"entity"`
	Action string `json:"action"`
	Level  string `json:"level"`
}

// Workgroup is a socialnetwork group with its visibility, members and the
// minimal member role per feature operation that differs from the default.
type Workgroup struct {
	Key        string `json:"key"`
	Name       string `json:"name"`
	ID         int64  `json:"id,omitempty"`
	Visibility string `json:"visibility"`
	// Archived is b_sonet_group.CLOSED = Y: only the viewing operations
	// (MinOperations) work, unless the portal option
	// work_with_closed_groups lets the owner act (Directory).
	Archived   bool          `json:"archived,omitempty"`
	Owner      string        `json:"owner"`
	Moderators []string      `json:"moderators,omitempty"`
	Members    []string      `json:"members,omitempty"`
	Features   []FeaturePerm `json:"features,omitempty"`
	// DisabledFeatures are the features switched off in the group
	// (b_sonet_features.ACTIVE = N): nobody gets their operations.
	DisabledFeatures []string `json:"disabled_features,omitempty"`

	// The live side only (b_sonet_user2group rows that are not members);
	// a policy does not state them and a plan never changes them.
	// Banned are ROLE T; Requests ROLE Z the user asked for
	// (INITIATED_BY_TYPE U, or S from a structure sync: either way the user
	// may neither join nor ask again); Invited ROLE Z initiated by the group
	// (G: an invitation the user may accept by joining).
	Banned   []string `json:"banned,omitempty"`
	Requests []string `json:"requests,omitempty"`
	Invited  []string `json:"invited,omitempty"`
}

// OpenChannel is an open-channel (open line) configuration: its queue
// decides who receives the channel's chats. Queue order is kept because
// Bitrix distributes chats in that order when QueueType is "strictly".
type OpenChannel struct {
	Key       string   `json:"key"`
	Name      string   `json:"name"`
	ID        int64    `json:"id,omitempty"`
	Inactive  bool     `json:"inactive,omitempty"`
	QueueType string   `json:"queue_type"`
	Queue     []string `json:"queue,omitempty"`
}

// QueueTypes are Bitrix's chat distribution modes; the first is the
// default (the column default of b_imopenlines_config.QUEUE_TYPE).
var QueueTypes = []string{"all", "evenly", "strictly"}

// FeaturePerm is feature/operation → minimal member role.
type FeaturePerm struct {
	Feature   string `json:"feature"`
	Operation string `json:"operation"`
	Role      string `json:"role"`
}

// FieldRule restricts who may view/edit one CRM field, optionally only in
// some stages. Native rules are Bitrix's own custom-field visibility (view
// only); the others follow the third-party field-permission module model.
type FieldRule struct {
	Key      string   `json:"key"`
	Native   bool     `json:"native,omitempty"`
	Entity   string   `json:"entity"`
	Pipeline string   `json:"pipeline,omitempty"`
	Field    string   `json:"field"`
	Stages   []string `json:"stages,omitempty"`
	View     []string `json:"view,omitempty"`
	Edit     []string `json:"edit,omitempty"`
}

// Settings hold ownership modes and safety lists.
type Settings struct {
	Mode            map[string]string `json:"mode,omitempty"`
	Protect         []string          `json:"protect,omitempty"`
	SensitiveFields []string          `json:"sensitive_fields,omitempty"`
}

// Removed allows a protected address to be deleted.
type Removed struct {
	Address string `json:"address"`
	Reason  string `json:"reason"`
}

// Test is one permission assertion run by `b24perm test`.
type Test struct {
	Name          string `json:"name,omitempty"`
	User          string `json:"user,omitempty"`
	NobodyOutside string `json:"nobody_outside,omitempty"`
	Can           string `json:"can,omitempty"`
	Cannot        string `json:"cannot,omitempty"`
	Entity        string `json:"entity"`
	// Item is, for entity "activity", the CRM item type the activities
	// belong to (default deal): they follow its read and write.
	Item     string `json:"item,omitempty"`
	Pipeline string `json:"pipeline,omitempty"`
	Stage    string `json:"stage,omitempty"`
	// To is the target stage of a "move" assertion (from Stage).
	To      string `json:"to,omitempty"`
	Field   string `json:"field,omitempty"`
	Level   string `json:"level,omitempty"`
	Exactly bool   `json:"exactly,omitempty"`
	Pos     Pos    `json:"-"`
}

// Domains, as used by settings.mode and plan summaries.
const (
	DomainCRM        = "crm"
	DomainTelephony  = "telephony"
	DomainOpenlines  = "openlines"
	DomainWorkgroups = "workgroups"
	DomainFields     = "fields"
)

// Domains lists every domain in display order.
var Domains = []string{DomainCRM, DomainTelephony, DomainOpenlines, DomainWorkgroups, DomainFields}

// Ownership modes.
const (
	ModeAuthoritative = "authoritative"
	ModeAdditive      = "additive"
	ModeObserve       = "observe"
)

// ModeFor returns the ownership mode of a domain; additive when unset, so
// that nothing is deleted unless the policy says so.
func (g *Graph) ModeFor(domain string) string {
	if g.Settings != nil {
		if m := g.Settings.Mode[domain]; m != "" {
			return m
		}
	}
	return ModeAdditive
}

// JSON returns the canonical, indented JSON of g (which must be normalized):
// the bytes an Encoder without HTML escaping and with SetIndent("", "  ")
// writes (TestCanonicalJSON), the CRM cells written indented directly
// (appendCRMRoleIndented) rather than indenting compact JSON afterwards.
func (g *Graph) JSON() ([]byte, error) {
	return appendIndented(nil, g)
}

// Digest is a stable content hash of the canonical graph, without IDs'
// influence removed: desired graphs carry no IDs.
func (g *Graph) Digest() string {
	// Streamed into the hash: no copy of the whole document (an
	// encoding/json Encoder buffers all of it first: 25 MB at 4x XL).
	h := sha256.New()
	_ = writeCanonical(h, g)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// SetSource records where addr (or a cell key) was declared.
func (g *Graph) SetSource(key string, p Pos) {
	if !p.IsValid() {
		return
	}
	if g.Sources == nil {
		g.Sources = map[string]Pos{}
	}
	g.Sources[key] = p
}

// Source returns the declaration position of key, if known: its own
// entry, or for a pipeline-level CRM cell the entity-wide declaration it
// was expanded from (EntityCellSourceKey).
func (g *Graph) Source(key string) (Pos, bool) {
	if p, ok := g.Sources[key]; ok {
		return p, true
	}
	if len(g.Sources) == 0 {
		return Pos{}, false
	}
	k, ok := g.expandedFrom(key)
	if !ok {
		return Pos{}, false
	}
	p, ok := g.Sources[k]
	return p, ok
}

// SourceIn is Source over positions kept outside g (a snapshot's table).
func (g *Graph) SourceIn(t *SourceTable, key string) (Pos, bool) {
	if p, ok := t.Lookup(key); ok {
		return p, true
	}
	if t.Len() == 0 {
		return Pos{}, false
	}
	k, ok := g.expandedFrom(key)
	if !ok {
		return Pos{}, false
	}
	return t.Lookup(k)
}

// expandedFrom returns the EntityCellSourceKey a pipeline-level CRM cell
// key may inherit its position from: the cell's pipeline must be one the
// compiler expands entity-wide levels into (the default pipeline and the
// entity's declared ones), so that a cell the policy never expanded has
// no position, as before.
func (g *Graph) expandedFrom(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, string(KindCRMRole)+".")
	if !ok {
		return "", false
	}
	h := strings.IndexByte(rest, '#')
	if h < 0 {
		return "", false
	}
	role, cell := rest[:h], rest[h+1:]
	entity, cell, ok1 := strings.Cut(cell, "/")
	pipeline, cell, ok2 := strings.Cut(cell, "/")
	stage, action, ok3 := strings.Cut(cell, "/")
	if !ok1 || !ok2 || !ok3 || stage != "" || pipeline == "" || pipeline == entityWidePipeline || strings.Contains(action, "/") {
		return "", false
	}
	if pipeline != DefaultPipeline && !slices.ContainsFunc(g.Pipelines, func(p Pipeline) bool { return p.Entity == entity && p.Key == pipeline }) {
		return "", false
	}
	return EntityCellSourceKey(role, entity, action), true
}
