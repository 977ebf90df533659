package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Resource is a union of the addressable objects of a graph; exactly one
// field is set. It is the Before/After of a plan change.
type Resource struct {
	SmartProcess *SmartProcess `json:"crm_type,omitempty"`
	Pipeline     *Pipeline     `json:"crm_pipeline,omitempty"`
	CRMRole      *CRMRole      `json:"crm_role,omitempty"`
	Telephony    *SimpleRole   `json:"telephony_role,omitempty"`
	Openline     *SimpleRole   `json:"openline_role,omitempty"`
	Workgroup    *Workgroup    `json:"workgroup,omitempty"`
	OpenChannel  *OpenChannel  `json:"openline_channel,omitempty"`
	FieldRule    *FieldRule    `json:"field_rule,omitempty"`
}

// Name is the display name of the resource.
func (r Resource) Name() string {
	switch {
	case r.SmartProcess != nil:
		return r.SmartProcess.Name
	case r.Pipeline != nil:
		return r.Pipeline.Name
	case r.CRMRole != nil:
		return r.CRMRole.Name
	case r.Telephony != nil:
		return r.Telephony.Name
	case r.Openline != nil:
		return r.Openline.Name
	case r.Workgroup != nil:
		return r.Workgroup.Name
	case r.OpenChannel != nil:
		return r.OpenChannel.Name
	case r.FieldRule != nil:
		return r.FieldRule.Entity + "." + r.FieldRule.Field
	}
	return ""
}

// ID is the live ID of the resource (0 when unknown).
func (r Resource) ID() int64 {
	switch {
	case r.SmartProcess != nil:
		return r.SmartProcess.EntityTypeID
	case r.Pipeline != nil:
		return r.Pipeline.ID
	case r.CRMRole != nil:
		return r.CRMRole.ID
	case r.Telephony != nil:
		return r.Telephony.ID
	case r.Openline != nil:
		return r.Openline.ID
	case r.Workgroup != nil:
		return r.Workgroup.ID
	case r.OpenChannel != nil:
		return r.OpenChannel.ID
	}
	return 0
}

// Fingerprint hashes the resource's canonical JSON; a saved plan records
// it for every live object read, and apply refuses when it changed.
func (r Resource) Fingerprint() string {
	var b []byte
	if r.CRMRole != nil && r == (Resource{CRMRole: r.CRMRole}) {
		// json.Marshal's bytes, without its reflection over the cells.
		b = append(appendCRMRole(append(make([]byte, 0, 64*r.CRMRole.NumCells()+256), `{"crm_role":`...), r.CRMRole, true), '}')
	} else {
		b, _ = json.Marshal(r)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// Resources returns every addressable object of g keyed by address. The
// pointers alias g's slices.
func (g *Graph) Resources() map[Addr]Resource {
	m := make(map[Addr]Resource, len(g.CRMRoles)+len(g.Pipelines)+len(g.Workgroups)+len(g.FieldRules)+8)
	for i := range g.SmartProcesses {
		m[Addr{KindSmartProcess, g.SmartProcesses[i].Key}] = Resource{SmartProcess: &g.SmartProcesses[i]}
	}
	for i := range g.Pipelines {
		p := &g.Pipelines[i]
		m[Addr{KindPipeline, PipelineKey(p.Entity, p.Key)}] = Resource{Pipeline: p}
	}
	for i := range g.CRMRoles {
		m[Addr{KindCRMRole, g.CRMRoles[i].Key}] = Resource{CRMRole: &g.CRMRoles[i]}
	}
	for i := range g.TelephonyRoles {
		m[Addr{KindTelephony, g.TelephonyRoles[i].Key}] = Resource{Telephony: &g.TelephonyRoles[i]}
	}
	for i := range g.OpenlineRoles {
		m[Addr{KindOpenline, g.OpenlineRoles[i].Key}] = Resource{Openline: &g.OpenlineRoles[i]}
	}
	for i := range g.Workgroups {
		m[Addr{KindWorkgroup, g.Workgroups[i].Key}] = Resource{Workgroup: &g.Workgroups[i]}
	}
	for i := range g.OpenChannels {
		m[Addr{KindOpenChannel, g.OpenChannels[i].Key}] = Resource{OpenChannel: &g.OpenChannels[i]}
	}
	for i := range g.FieldRules {
		m[Addr{KindFieldRule, g.FieldRules[i].Key}] = Resource{FieldRule: &g.FieldRules[i]}
	}
	return m
}

// PipelineByKey returns the pipeline (entity, key), if declared.
func (g *Graph) PipelineByKey(entity, key string) (*Pipeline, bool) {
	for i := range g.Pipelines {
		if g.Pipelines[i].Entity == entity && g.Pipelines[i].Key == key {
			return &g.Pipelines[i], true
		}
	}
	return nil, false
}
