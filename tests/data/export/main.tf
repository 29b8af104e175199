# The REST front door of scenarios/11-front-doors/rest.yaml in Terraform, as `apisim import` would
# name it (apisim's test of `export --terraform`): the API and the function are matched by label,
# the second function has no counterpart in the scenario.

resource "aws_lambda_function" "users" {
  function_name = "users"
  role          = "arn:aws:iam::123456789012:role/users"
  handler       = "index.handler"
  runtime       = "python3.12"
  filename      = "users.zip"
  memory_size   = 512
  architectures = ["arm64"]
}

resource "aws_lambda_function" "reports" {
  function_name = "reports"
  role          = "arn:aws:iam::123456789012:role/reports"
  handler       = "index.handler"
  runtime       = "python3.12"
  filename      = "reports.zip"
}

resource "aws_api_gateway_rest_api" "front-door-rest" {
  name = "front-door-rest"
}

resource "aws_s3_bucket" "assets" {
  bucket = "front-door-assets"
}
