telephony_role "call_verifiers" {
  name        = "Call Verifiers"
  assign      = [{ user = "galina@example.com" }]
  permissions = { call_detail = { view = "any" }, call_record = { listen = "any" } }
}

telephony_role "manager" {
  name   = "Manager"
  assign = [{ department = "Company", subdepartments = true }]
  permissions = {
    call_detail = { view = "own" }
    call_record = { listen = "own" }
    call        = { perform = "any" }
    user        = { modify = "own" }
  }
}

telephony_role "administrator" {
  name   = "Administrator"
  assign = [{ user = "admin@example.com" }]
  permissions = {
    call_detail = { view = "any" }
    call_record = { listen = "any", modify = "any" }
    call        = { perform = "any" }
    user        = { modify = "any" }
    settings    = { modify = "any" }
    line        = { modify = "any" }
    balance     = { modify = "any" }
  }
}

openline_role "operators" {
  name   = "Operators"
  assign = [{ department = "Company/Support", subdepartments = true }]
  permissions = {
    lines         = { view = "own" }
    session       = { view = "own" }
    history       = { view = "own" }
    join          = { perform = "department" }
    quick_answers = { modify = "any" }
  }
}

openline_role "supervisors" {
  name   = "Support supervisors"
  assign = [{ user = "ivan@example.com" }]
  permissions = {
    lines     = { view = "any", modify = "any" }
    session   = { view = "any" }
    history   = { view = "any" }
    join      = { perform = "any" }
    vote_head = { perform = "any" }
    settings  = { modify = "any" }
  }
}

# Open channels: who receives each channel's chats, in order.
openline_channel "support_chat" {
  name       = "Support chat"
  queue_type = "evenly"
  queue      = [{ department = "Company/Support" }, { user = "ivan@example.com" }]
}

openline_channel "sales_chat" {
  name       = "Sales chat"
  queue_type = "strictly"
  queue      = [{ user = "anna@example.com" }, { user = "boris@example.com" }]
}
