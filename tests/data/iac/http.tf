# An HTTP API with a Lambda authorizer, and a function URL, in Terraform (apisim's test).

resource "aws_lambda_function" "api" {
  function_name = "api"
  role          = "arn:aws:iam::123456789012:role/api"
  handler       = "index.handler"
  runtime       = "nodejs20.x"
  filename      = "api.zip"
  memory_size   = 2048
  timeout       = 25
}

resource "aws_lambda_function" "authz" {
  function_name = "authz"
  role          = "arn:aws:iam::123456789012:role/authz"
  handler       = "index.handler"
  runtime       = "nodejs20.x"
  filename      = "authz.zip"
}

resource "aws_lambda_function" "webhook" {
  function_name = "webhook"
  role          = "arn:aws:iam::123456789012:role/webhook"
  handler       = "index.handler"
  runtime       = "nodejs20.x"
  filename      = "webhook.zip"
  memory_size   = 256
}

resource "aws_lambda_provisioned_concurrency_config" "api" {
  function_name                     = aws_lambda_function.api.function_name
  provisioned_concurrent_executions = 3
  qualifier                         = "live"
}

resource "aws_apigatewayv2_api" "public" {
  name          = "public"
  protocol_type = "HTTP"
}

resource "aws_apigatewayv2_integration" "api" {
  api_id                 = aws_apigatewayv2_api.public.id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.api.invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = 20000
}

resource "aws_apigatewayv2_authorizer" "authz" {
  api_id                            = aws_apigatewayv2_api.public.id
  authorizer_type                   = "REQUEST"
  authorizer_uri                    = aws_lambda_function.authz.invoke_arn
  authorizer_result_ttl_in_seconds  = 120
  authorizer_payload_format_version = "2.0"
  identity_sources                  = ["$request.header.Authorization"]
  name                              = "authz"
}

resource "aws_apigatewayv2_route" "items" {
  api_id             = aws_apigatewayv2_api.public.id
  route_key          = "GET /items"
  target             = "integrations/${aws_apigatewayv2_integration.api.id}"
  authorization_type = "CUSTOM"
  authorizer_id      = aws_apigatewayv2_authorizer.authz.id
}

resource "aws_apigatewayv2_route" "item" {
  api_id             = aws_apigatewayv2_api.public.id
  route_key          = "PUT /items/{id}"
  target             = "integrations/${aws_apigatewayv2_integration.api.id}"
  authorization_type = "CUSTOM"
  authorizer_id      = aws_apigatewayv2_authorizer.authz.id
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.public.id
  name        = "$default"
  auto_deploy = true
  default_route_settings {
    throttling_rate_limit  = 1000
    throttling_burst_limit = 2000
  }
  route_settings {
    route_key              = "PUT /items/{id}"
    throttling_rate_limit  = 50
    throttling_burst_limit = 100
  }
}

resource "aws_lambda_function_url" "webhook" {
  function_name      = aws_lambda_function.webhook.function_name
  authorization_type = "AWS_IAM"
  invoke_mode        = "RESPONSE_STREAM"
}
