variable "project_id" { type = string }
variable "network" { type = string }

# Allow RDP only through IAP TCP forwarding.
resource "google_compute_firewall" "rdp_from_iap" {
  project       = var.project_id
  name          = "allow-rdp-from-iap"
  network       = var.network
  direction     = "INGRESS"
  priority      = 1000
  source_ranges = ["35.235.240.0/20"]
  target_tags   = ["windows"]
  allow {
    protocol = "tcp"
    ports    = ["3389"]
  }
}

resource "google_compute_firewall" "deny_rdp_internet" {
  project       = var.project_id
  name          = "deny-rdp-internet"
  network       = var.network
  direction     = "INGRESS"
  priority      = 65000
  source_ranges = ["0.0.0.0/0"]
  deny {
    protocol = "tcp"
    ports    = ["3389"]
  }
}
