# A REST API in Terraform: a Lambda proxy, a stage with a cache and throttles, a usage plan
# (apisim's test, written in the style of the AWS provider's examples).

variable "orders_memory" {
  type    = number
  default = 768
}

locals {
  stage = "v1"
}

resource "aws_lambda_function" "orders" {
  function_name                  = "orders"
  role                           = aws_iam_role.lambda.arn
  handler                        = "app.handler"
  runtime                        = "python3.12"
  filename                       = "orders.zip"
  memory_size                    = var.orders_memory
  timeout                        = 12
  architectures                  = ["arm64"]
  reserved_concurrent_executions = 40
}

resource "aws_iam_role" "lambda" {
  name               = "orders-lambda"
  assume_role_policy = "{}"
}

resource "aws_api_gateway_rest_api" "shop" {
  name = "shop"
  endpoint_configuration {
    types = ["REGIONAL"]
  }
}

resource "aws_api_gateway_resource" "orders" {
  rest_api_id = aws_api_gateway_rest_api.shop.id
  parent_id   = aws_api_gateway_rest_api.shop.root_resource_id
  path_part   = "orders"
}

resource "aws_api_gateway_method" "get_orders" {
  rest_api_id      = aws_api_gateway_rest_api.shop.id
  resource_id      = aws_api_gateway_resource.orders.id
  http_method      = "GET"
  authorization    = "AWS_IAM"
  api_key_required = true
}

resource "aws_api_gateway_integration" "get_orders" {
  rest_api_id             = aws_api_gateway_rest_api.shop.id
  resource_id             = aws_api_gateway_resource.orders.id
  http_method             = aws_api_gateway_method.get_orders.http_method
  integration_http_method = "POST"
  type                    = "AWS_PROXY"
  uri                     = aws_lambda_function.orders.invoke_arn
  timeout_milliseconds    = 10000
}

resource "aws_api_gateway_deployment" "shop" {
  rest_api_id = aws_api_gateway_rest_api.shop.id
}

resource "aws_api_gateway_stage" "v1" {
  rest_api_id           = aws_api_gateway_rest_api.shop.id
  deployment_id         = aws_api_gateway_deployment.shop.id
  stage_name            = local.stage
  cache_cluster_enabled = true
  cache_cluster_size    = "0.5"
  xray_tracing_enabled  = true
}

resource "aws_api_gateway_method_settings" "all" {
  rest_api_id = aws_api_gateway_rest_api.shop.id
  stage_name  = aws_api_gateway_stage.v1.stage_name
  method_path = "*/*"
  settings {
    throttling_rate_limit  = 250
    throttling_burst_limit = 500
    caching_enabled        = true
    cache_ttl_in_seconds   = 60
  }
}

resource "aws_api_gateway_method_settings" "get_orders" {
  rest_api_id = aws_api_gateway_rest_api.shop.id
  stage_name  = aws_api_gateway_stage.v1.stage_name
  method_path = "orders/GET"
  settings {
    throttling_rate_limit  = 20
    throttling_burst_limit = 40
  }
}

resource "aws_api_gateway_usage_plan" "partners" {
  name = "partners"
  api_stages {
    api_id = aws_api_gateway_rest_api.shop.id
    stage  = aws_api_gateway_stage.v1.stage_name
  }
  quota_settings {
    limit  = 20000
    period = "WEEK"
  }
  throttle_settings {
    rate_limit  = 10
    burst_limit = 20
  }
}

resource "aws_api_gateway_api_key" "acme" {
  name = "acme"
}

resource "aws_api_gateway_usage_plan_key" "acme" {
  key_id        = aws_api_gateway_api_key.acme.id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.partners.id
}
