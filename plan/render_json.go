package plan

import (
	"encoding/json"
	"io"

	"github.com/b24perm/b24perm/access"
	"github.com/b24perm/b24perm/graph"
)

// jsonPlan is the documented machine-readable plan (docs/plan-json.md).
type jsonPlan struct {
	FormatVersion int               `json:"format_version"`
	ToolVersion   string            `json:"tool_version"`
	Backend       string            `json:"backend"`
	PolicyDigest  string            `json:"policy_digest"`
	State         jsonState         `json:"state"`
	Drift         bool              `json:"drift"`
	Summary       jsonSummary       `json:"summary"`
	Changes       []jsonChange      `json:"changes"`
	Observed      []jsonChange      `json:"observed"`
	Unmanaged     []Unmanaged       `json:"unmanaged"`
	Anomalies     []string          `json:"anomalies"`
	Warnings      []string          `json:"warnings"`
	Access        *access.Delta     `json:"access"`
	Unreadable    *Unreadable       `json:"unreadable,omitempty"`
	Names         map[string]string `json:"names,omitempty"`
}

type jsonState struct {
	Lineage string `json:"lineage"`
	Serial  int64  `json:"serial"`
}

type jsonSummary struct {
	Add     int `json:"add"`
	Change  int `json:"change"`
	Destroy int `json:"destroy"`
	Manual  int `json:"manual"`
	Unknown int `json:"unknown"`
}

type jsonChange struct {
	Address     string     `json:"address"`
	Action      string     `json:"action"`
	Domain      string     `json:"domain"`
	Name        string     `json:"name"`
	ID          int64      `json:"id,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	Manual      bool       `json:"manual"`
	ManualSteps []string   `json:"manual_steps,omitempty"`
	Source      *graph.Pos `json:"source,omitempty"`
	Baseline    *Baseline  `json:"baseline,omitempty"`
	Attributes  []jsonAttr `json:"attributes"`
}

type jsonAttr struct {
	Kind            string         `json:"kind"`
	Action          string         `json:"action"`
	Path            string         `json:"path"`
	Cell            *graph.CellKey `json:"cell,omitempty"`
	Before          string         `json:"before,omitempty"`
	After           string         `json:"after,omitempty"`
	BeforeInherited bool           `json:"before_inherited,omitempty"`
	AfterInherited  bool           `json:"after_inherited,omitempty"`
	Source          *graph.Pos     `json:"source,omitempty"`
}

func toJSONChanges(cs []Change) []jsonChange {
	out := []jsonChange{}
	for _, c := range cs {
		jc := jsonChange{Address: c.Address, Action: c.Action.Verb(), Domain: c.Domain, Name: c.Name, ID: c.ID, Reason: c.Reason,
			Manual: c.Manual, ManualSteps: c.ManualSteps, Source: c.Source, Baseline: c.Baseline, Attributes: []jsonAttr{}}
		for _, a := range c.Attrs {
			jc.Attributes = append(jc.Attributes, jsonAttr{Kind: string(a.Kind), Action: a.Action.Verb(), Path: a.Path, Cell: a.Cell,
				Before: a.Before, After: a.After, BeforeInherited: a.BeforeInherited, AfterInherited: a.AfterInherited, Source: a.Source})
		}
		out = append(out, jc)
	}
	return out
}

// RenderJSON writes the versioned JSON plan.
func RenderJSON(w io.Writer, p *Plan) error {
	add, change, destroy := p.Summary()
	jp := jsonPlan{FormatVersion: FormatVersion, ToolVersion: p.ToolVersion, Backend: p.Backend, PolicyDigest: p.PolicyDigest,
		State: jsonState{p.StateLineage, p.StateSerial}, Drift: p.Drift,
		Summary: jsonSummary{add, change, destroy, p.ManualCount(), p.UnknownCount()}, Changes: toJSONChanges(p.Changes), Observed: toJSONChanges(p.Observed),
		Unmanaged: p.Unmanaged, Anomalies: p.Anomalies, Warnings: p.Warnings, Access: p.Access, Unreadable: p.Unreadable, Names: p.Names}
	if jp.Unmanaged == nil {
		jp.Unmanaged = []Unmanaged{}
	}
	if jp.Anomalies == nil {
		jp.Anomalies = []string{}
	}
	if jp.Warnings == nil {
		jp.Warnings = []string{}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(jp)
}
