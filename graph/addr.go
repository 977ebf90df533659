package graph

import (
	"fmt"
	"strings"
)

// Kind is a resource kind, the first part of an address.
type Kind string

// Resource kinds.
const (
	KindSmartProcess Kind = "crm_type"
	KindPipeline     Kind = "crm_pipeline"
	KindCRMRole      Kind = "crm_role"
	KindTelephony    Kind = "telephony_role"
	KindOpenline     Kind = "openline_role"
	KindWorkgroup    Kind = "workgroup"
	KindOpenChannel  Kind = "openline_channel"
	KindFieldRule    Kind = "field_rule"
)

// Kinds lists every kind in apply order for creation: structure first, and
// workgroups before the roles that may be assigned to their members.
var Kinds = []Kind{KindSmartProcess, KindPipeline, KindWorkgroup, KindOpenChannel, KindCRMRole, KindTelephony, KindOpenline, KindFieldRule}

// Domain returns the settings domain a kind belongs to.
func (k Kind) Domain() string {
	switch k {
	case KindTelephony:
		return DomainTelephony
	case KindOpenline, KindOpenChannel:
		return DomainOpenlines
	case KindWorkgroup:
		return DomainWorkgroups
	case KindFieldRule:
		return DomainFields
	}
	return DomainCRM
}

// Addr is a typed, comparable resource address such as crm_role.manager or
// crm_pipeline.deal.wholesale.
type Addr struct {
	Kind Kind
	Key  string
}

func (a Addr) String() string { return string(a.Kind) + "." + a.Key }

// ParseAddr parses "kind.key".
func ParseAddr(s string) (Addr, error) {
	k, key, ok := strings.Cut(s, ".")
	if !ok || key == "" {
		return Addr{}, fmt.Errorf("invalid address %q: want KIND.KEY, e.g. crm_role.manager", s)
	}
	for _, known := range Kinds {
		if Kind(k) == known {
			return Addr{Kind: known, Key: key}, nil
		}
	}
	return Addr{}, fmt.Errorf("invalid address %q: unknown kind %q (known: %s)", s, k, kindList())
}

func kindList() string {
	var s []string
	for _, k := range Kinds {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

// Matches reports whether a is selected by pattern p: an exact address, or
// a kind alone ("crm_role") selecting every address of that kind.
func (a Addr) Matches(p string) bool {
	if p == string(a.Kind) {
		return true
	}
	return p == a.String()
}

// PipelineKey joins entity and pipeline key for a pipeline address.
func PipelineKey(entity, key string) string { return entity + "." + key }

// CellSourceKey is the Sources key of one CRM cell.
func CellSourceKey(role string, c CRMPerm) string {
	return "crm_role." + role + "#" + c.Entity + "/" + c.Pipeline + "/" + c.Stage + "/" + c.Action
}

// entityWidePipeline stands for "every pipeline" in an
// EntityCellSourceKey; no pipeline key (#Key) can be it.
const entityWidePipeline = "*"

// EntityCellSourceKey is the Sources key of an entity-wide CRM level of a
// role (an action set on an entity with pipelines, outside its
// pipelines: and stages:). The compiler records it once instead of one
// CellSourceKey per pipeline the level expands into, and Graph.Source
// gives it for those cells that have no position of their own (a
// pipeline override has).
func EntityCellSourceKey(role, entity, action string) string {
	return string(KindCRMRole) + "." + role + "#" + entity + "/" + entityWidePipeline + "//" + action
}

// SimpleCellSourceKey is the Sources key of a telephony/open-channel cell.
func SimpleCellSourceKey(kind Kind, role string, c SimplePerm) string {
	return string(kind) + "." + role + "#" + c.Entity + "/" + c.Action
}

// AssignSourceKey is the Sources key of one assignment of a role.
func AssignSourceKey(a Addr, subject string) string { return a.String() + "@" + subject }

// StageSourceKey is the Sources key of one declared stage of a pipeline.
func StageSourceKey(pipeline Addr, stage string) string {
	return pipeline.String() + "/stages/" + stage
}

// ProtectSourceKey is the Sources key of a settings.protect entry.
func ProtectSourceKey(addr string) string { return "settings.protect@" + addr }
