# The example policies of ../../policies, in HCL. They compile to the
# byte-identical permission graph.

crm_pipeline "deal" "default" {
  name = "General"
  stage "new" { name = "New" }
  stage "preparation" { name = "Preparing documents" }
  stage "negotiation" { name = "Negotiation" }
  stage "won" { name = "Deal won" }
  stage "lose" { name = "Deal lost" }
}

crm_pipeline "deal" "wholesale" {
  name = "Wholesale"
  stage "new" { name = "New" }
  stage "preparation" { name = "Preparing documents" }
  stage "negotiation" { name = "Negotiation" }
  stage "won" { name = "Deal won" }
  stage "lose" { name = "Deal lost" }
}

crm_pipeline "lead" "default" {
  name = "Leads"
  stage "new" { name = "Unassigned" }
  stage "in_process" { name = "In progress" }
  stage "converted" { name = "Good lead" }
  stage "junk" { name = "Junk lead" }
}

crm_role "administrator" {
  name   = "Administrator"
  assign = [{ user = "admin@example.com" }]
  permissions "config" {
    write = "all"
  }
  permissions "lead" {
    read = "all"
    add = "all"
    write = "all"
    delete = "all"
    export = "all"
    import = "all"
    automation = "all"
  }
  permissions "deal" {
    read = "all"
    add = "all"
    write = "all"
    delete = "all"
    export = "all"
    import = "all"
    automation = "all"
  }
  permissions "contact" {
    read = "all"
    add = "all"
    write = "all"
    delete = "all"
    export = "all"
    import = "all"
    automation = "all"
  }
  permissions "company" {
    read = "all"
    add = "all"
    write = "all"
    delete = "all"
    export = "all"
    import = "all"
    automation = "all"
  }
  permissions "quote" {
    read = "all"
    add = "all"
    write = "all"
    delete = "all"
    export = "all"
    import = "all"
    automation = "all"
  }
}

crm_role "manager" {
  name   = "Manager"
  assign = [{ department = "Company/Sales", subdepartments = true }]
  permissions "lead" {
    read   = "department"
    add    = "all"
    write  = "own"
    delete = "own"
    export = "own"
  }
  permissions "deal" {
    read       = "department"
    add        = "all"
    write      = "own"
    delete     = "none"
    export     = "own"
    transition = "any"
    pipeline "wholesale" {
      read = "all"
      stage "won" { write = "none" }
    }
    stage "lose" { write = "none" }
  }
  permissions "contact" {
    read  = "all"
    add   = "all"
    write = "department"
  }
  permissions "company" {
    read  = "all"
    add   = "all"
    write = "department"
  }
  permissions "quote" {
    read  = "department"
    add   = "all"
    write = "own"
  }
}

crm_role "supervisor" {
  name   = "Supervisor"
  assign = [{ user = "elena@example.com" }, { department = "Company/Management" }]
  permissions "lead" {
    read = "all"
    add = "all"
    write = "all"
    delete = "all"
    export = "all"
  }
  permissions "contact" {
    read = "all"
    add = "all"
    write = "all"
    delete = "all"
    export = "all"
  }
  permissions "company" {
    read = "all"
    add = "all"
    write = "all"
    delete = "all"
    export = "all"
  }
  permissions "quote" {
    read = "all"
    add = "all"
    write = "all"
    delete = "all"
    export = "all"
  }
  permissions "deal" {
    read = "all"
    add = "all"
    write = "all"
    delete = "all"
    export = "all"
    hide_sum = "all"
  }
}

crm_role "finance" {
  name   = "Finance"
  assign = [{ department = "Company/Finance" }]
  permissions "deal" {
    read   = "all"
    export = "all"
    stage "new" { read = "none" }
    stage "preparation" { read = "none" }
  }
  permissions "company" {
    read = "all"
  }
}
