# Launch template fragment that enforces IMDSv2 for every instance it launches.
variable "ami_id" { type = string }
variable "instance_type" {
  type    = string
  default = "t3.micro"
}

resource "aws_launch_template" "imdsv2" {
  name_prefix   = "imdsv2-"
  image_id      = var.ami_id
  instance_type = var.instance_type

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
    instance_metadata_tags      = "enabled"
  }
}
