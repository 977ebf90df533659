// Package local is the embedded default backend: a whole Bitrix24 portal
// kept as one JSON file (default .b24perm/portal.json). It stores what a
// portal stores — numeric IDs, access codes, category IDs, status IDs — and
// behaves like one: new objects get the next ID, a missing stage row means
// inherit, creating a pipeline writes default permissions into the other
// roles, and reads derive keys from names as for any live portal.
package local

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/b24perm/b24perm/graph"
	"github.com/b24perm/b24perm/provider/bitrix"
)

// FormatVersion of portal.json.
const FormatVersion = 1

// Portal is a portal in the first, simplified file format, which files
// written before the table model still hold (they are upgraded on read).
// It is only ever read, to upgrade such a file to the table model
// (bitrix.Portal, the one portal model); nothing writes or applies to it.
type Portal struct {
	FormatVersion  int               `json:"format_version"`
	Portal         string            `json:"portal"`
	NextID         map[string]int64  `json:"next_id"`
	Directory      graph.Directory   `json:"directory"`
	SmartProcesses []SmartProcess    `json:"smart_processes,omitempty"`
	Pipelines      []Pipeline        `json:"pipelines"`
	CRMRoles       []CRMRole         `json:"crm_roles"`
	TelephonyRoles []SimpleRole      `json:"telephony_roles"`
	OpenlineRoles  []SimpleRole      `json:"openline_roles"`
	Workgroups     []Workgroup       `json:"workgroups"`
	OpenChannels   []OpenChannel     `json:"open_channels,omitempty"`
	FieldRules     []FieldRule       `json:"field_rules"`
	Extra          map[string]string `json:"extra,omitempty"`
	// TelephonySecurityOff: the cloud plan lacks voximplant_security, so
	// the portal applies the default telephony roles.
	TelephonySecurityOff bool `json:"telephony_security_off,omitempty"`
}

// SmartProcess is a smart-process type.
type SmartProcess struct {
	ID    int64  `json:"id"`
	Title string `json:"title"`
}

// Pipeline is a CRM category. ID 0 is an entity's default category.
type Pipeline struct {
	ID     int64         `json:"id"`
	Entity string        `json:"entity"`
	Name   string        `json:"name"`
	Stages []graph.Stage `json:"stages"`
}

// CRMRole is a CRM role as stored: relations are access codes and cells
// reference category IDs.
type CRMRole struct {
	ID        int64    `json:"id"`
	Name      string   `json:"name"`
	System    bool     `json:"system,omitempty"`
	Relations []string `json:"relations"`
	Perms     []Perm   `json:"permissions"`
}

// Perm is one stored CRM cell. Category is -1 for entities without
// categories; Stage is the stage key (derived from the status ID).
type Perm struct {
	Entity   string `json:"entity"`
	Category int64  `json:"category"`
	Stage    string `json:"stage,omitempty"`
	Action   string `json:"action"`
	Level    string `json:"level"`
}

// SimpleRole is a telephony or open-channel role.
type SimpleRole struct {
	ID     int64              `json:"id"`
	Name   string             `json:"name"`
	Access []string           `json:"access"`
	Perms  []graph.SimplePerm `json:"permissions"`
}

// Workgroup is a socialnetwork group with Bitrix's flags (VISIBLE,
// OPENED, CLOSED = archived), its members and the users with another
// relation: banned (ROLE T), asking to join (Z by the user), invited (Z
// by the group); and the features switched off (ACTIVE = N).
type Workgroup struct {
	ID               int64               `json:"id"`
	Name             string              `json:"name"`
	Visible          bool                `json:"visible"`
	Opened           bool                `json:"opened"`
	Closed           bool                `json:"closed,omitempty"`
	Owner            int64               `json:"owner_id"`
	Moderators       []int64             `json:"moderators,omitempty"`
	Members          []int64             `json:"members,omitempty"`
	Banned           []int64             `json:"banned,omitempty"`
	Requests         []int64             `json:"requests,omitempty"`
	Invited          []int64             `json:"invited,omitempty"`
	Features         []graph.FeaturePerm `json:"features,omitempty"`
	DisabledFeatures []string            `json:"disabled_features,omitempty"`
}

// OpenChannel is an open-line configuration with its configured queue,
// as imopenlines.config.list.get returns it (CONFIG_QUEUE).
type OpenChannel struct {
	ID        int64        `json:"id"`
	Name      string       `json:"line_name"`
	Active    bool         `json:"active"`
	QueueType string       `json:"queue_type"`
	Queue     []QueueEntry `json:"queue,omitempty"`
}

// QueueEntry is one configured queue entry: a user or a department.
type QueueEntry struct {
	Type string `json:"entity_type"` // "user" or "department"
	ID   int64  `json:"entity_id"`
}

// FieldRule is a stored field rule; subjects are access codes.
type FieldRule struct {
	ID       int64    `json:"id"`
	Native   bool     `json:"native,omitempty"`
	Entity   string   `json:"entity"`
	Category int64    `json:"category"`
	Field    string   `json:"field"`
	Stages   []string `json:"stages,omitempty"`
	View     []string `json:"view,omitempty"`
	Edit     []string `json:"edit,omitempty"`
}

func parsePortal(b []byte, path string) (*Portal, error) {
	var p Portal
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%s is not a valid portal file: %s", path, bitrix.JSONErrorAt(b, err))
	}
	if p.FormatVersion > FormatVersion {
		return nil, fmt.Errorf("%s has format_version %d; this b24perm reads up to %d (upgrade b24perm)", path, p.FormatVersion, FormatVersion)
	}
	if p.NextID == nil {
		p.NextID = map[string]int64{}
	}
	return &p, nil
}
