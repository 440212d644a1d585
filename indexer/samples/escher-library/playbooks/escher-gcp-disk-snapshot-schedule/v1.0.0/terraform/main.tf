variable "project_id" { type = string }
variable "region" { type = string }
variable "zone" { type = string }
variable "disk_names" { type = list(string) }
variable "retention_days" {
  type    = number
  default = 14
}

resource "google_compute_resource_policy" "daily" {
  project = var.project_id
  name    = "daily-snapshots-${var.retention_days}d"
  region  = var.region
  snapshot_schedule_policy {
    schedule {
      daily_schedule {
        days_in_cycle = 1
        start_time    = "03:00"
      }
    }
    retention_policy {
      max_retention_days    = var.retention_days
      on_source_disk_delete = "KEEP_AUTO_SNAPSHOTS"
    }
  }
}

resource "google_compute_disk_resource_policy_attachment" "attach" {
  for_each = toset(var.disk_names)
  project  = var.project_id
  zone     = var.zone
  disk     = each.key
  name     = google_compute_resource_policy.daily.name
}
