variable "billing_account" { type = string }
variable "project_number" { type = string }
variable "amount" { type = number }
variable "currency" {
  type    = string
  default = "USD"
}

resource "google_billing_budget" "project" {
  billing_account = var.billing_account
  display_name    = "budget-${var.project_number}"

  budget_filter {
    projects = ["projects/${var.project_number}"]
  }
  amount {
    specified_amount {
      currency_code = var.currency
      units         = tostring(var.amount)
    }
  }
  threshold_rules { threshold_percent = 0.5 }
  threshold_rules { threshold_percent = 0.9 }
  threshold_rules { threshold_percent = 1.0 }
  threshold_rules {
    threshold_percent = 1.0
    spend_basis       = "FORECASTED_SPEND"
  }
}
