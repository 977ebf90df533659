workgroup "sales_team" {
  name       = "Sales team"
  visibility = "public"
  owner      = "elena@example.com"
  moderators = ["anna@example.com"]
  members    = ["boris@example.com", "dmitri@example.com", "pavel@example.com"]
}

workgroup "key_accounts" {
  name       = "Key accounts"
  visibility = "private"
  owner      = "boris@example.com"
  moderators = ["anna@example.com"]
  members    = ["elena@example.com"]
  features = {
    tasks = { edit_tasks = "members", delete_tasks = "owner" }
    files = { write = "members" }
  }
}

workgroup "board" {
  name       = "Board room"
  visibility = "secret"
  owner      = "ivan@example.com"
  members    = ["elena@example.com", "galina@example.com"]
  features   = { blog = { write_post = "moderators" } }
}

field_rule "deal_amount" {
  entity   = "deal"
  pipeline = "wholesale"
  field    = "OPPORTUNITY"
  stages   = ["new", "preparation"]
  view     = [{ department = "Company/Finance" }]
  edit     = [{ department = "Company/Finance" }]
}

field_visibility "passport" {
  entity = "contact"
  field  = "UF_CRM_PASSPORT"
  view   = [{ department = "Company/Finance" }]
}

settings {
  mode = {
    crm        = "authoritative"
    telephony  = "additive"
    openlines  = "additive"
    workgroups = "additive"
    fields     = "additive"
  }
  protect          = ["crm_role.administrator"]
  sensitive_fields = ["deal.OPPORTUNITY", "contact.UF_CRM_PASSPORT"]
}

test {
  name   = "wholesale managers read every wholesale deal"
  user   = "anna@example.com"
  can    = "read"
  entity = "deal"
  pipeline = "wholesale"
  level  = "all"
}
test {
  name   = "won wholesale deals are frozen for managers"
  user   = "anna@example.com"
  cannot = "write"
  entity = "deal"
  pipeline = "wholesale"
  stage  = "won"
}
test {
  name    = "retail managers edit only their own deals"
  user    = "dmitri@example.com"
  can     = "write"
  entity  = "deal"
  level   = "own"
  exactly = true
}
test {
  name   = "support cannot see deals"
  user   = "fedor@example.com"
  cannot = "read"
  entity = "deal"
}
test {
  name           = "only finance and management see early wholesale amounts"
  nobody_outside = "Company/Finance"
  can            = "view"
  entity         = "deal"
  pipeline       = "wholesale"
  stage          = "new"
  field          = "OPPORTUNITY"
}
