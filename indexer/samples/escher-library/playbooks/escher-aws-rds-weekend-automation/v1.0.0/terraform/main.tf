terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.0" }
  }
}

variable "db_instance_ids" { type = list(string) }
variable "timezone" {
  type    = string
  default = "Europe/Berlin"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "rds-weekend-scheduler"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy" "rds" {
  role = aws_iam_role.scheduler.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["rds:StopDBInstance", "rds:StartDBInstance", "rds:CreateDBSnapshot"]
      Resource = "*"
    }]
  })
}

resource "aws_scheduler_schedule" "stop" {
  for_each                     = toset(var.db_instance_ids)
  name                         = "rds-stop-${each.key}"
  schedule_expression          = "cron(0 19 ? * FRI *)"
  schedule_expression_timezone = var.timezone
  flexible_time_window { mode = "OFF" }
  target {
    arn      = "arn:aws:scheduler:::aws-sdk:rds:stopDBInstance"
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ DbInstanceIdentifier = each.key, DbSnapshotIdentifier = "weekend-${each.key}" })
  }
}

resource "aws_scheduler_schedule" "start" {
  for_each                     = toset(var.db_instance_ids)
  name                         = "rds-start-${each.key}"
  schedule_expression          = "cron(0 7 ? * MON *)"
  schedule_expression_timezone = var.timezone
  flexible_time_window { mode = "OFF" }
  target {
    arn      = "arn:aws:scheduler:::aws-sdk:rds:startDBInstance"
    role_arn = aws_iam_role.scheduler.arn
    input    = jsonencode({ DbInstanceIdentifier = each.key })
  }
}
