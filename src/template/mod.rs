//! Templates and expressions: one minijinja environment with the filters operators need.
//! (Stub with the agreed API; the full module replaces it.)

use std::path::PathBuf;

use serde_json::Value;

pub type Vars = serde_json::Map<String, Value>;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(String);

pub struct Templates {
    env: minijinja::Environment<'static>,
}

impl Templates {
    pub fn new(_search_dirs: Vec<PathBuf>) -> Templates {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);

        Templates { env }
    }
    pub fn render_str(&self, source: &str, vars: &Vars) -> Result<String, TemplateError> {
        if !source.contains("{{") && !source.contains("{%") {
            return Ok(source.to_string());
        }
        self.env
            .render_str(source, minijinja::value::Serde(vars))
            .map_err(|e| TemplateError(format!("{e:#}")))
    }
    pub fn render_value(&self, value: &Value, vars: &Vars) -> Result<Value, TemplateError> {
        Ok(match value {
            Value::String(s) => {
                let t = s.trim();
                if t.starts_with("{{") && t.ends_with("}}") && t.matches("{{").count() == 1 {
                    self.eval_expr(&t[2..t.len() - 2], vars)?
                } else {
                    Value::String(self.render_str(s, vars)?)
                }
            }
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|v| self.render_value(v, vars))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), self.render_value(v, vars)?)))
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        })
    }
    pub fn eval_condition(&self, cond: &Value, vars: &Vars) -> Result<bool, TemplateError> {
        match cond {
            Value::Bool(b) => Ok(*b),
            Value::Array(items) => {
                for i in items {
                    if !self.eval_condition(i, vars)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Value::String(s) => Ok(truthy(&self.eval_expr(s, vars)?)),
            _ => Ok(false),
        }
    }
    pub fn eval_expr(&self, expr: &str, vars: &Vars) -> Result<Value, TemplateError> {
        let e = self
            .env
            .compile_expression(expr)
            .map_err(|e| TemplateError(format!("{e:#}")))?;
        let v = e
            .eval(minijinja::value::Serde(vars))
            .map_err(|e| TemplateError(format!("{e:#}")))?;
        serde_json::to_value(&v).map_err(|e| TemplateError(e.to_string()))
    }
    pub fn render_file(&self, name: &str, vars: &Vars) -> Result<String, TemplateError> {
        let src =
            std::fs::read_to_string(name).map_err(|e| TemplateError(format!("{name}: {e}")))?;
        self.render_str(&src, vars)
    }
}

impl Templates {
    pub fn check_str(&self, source: &str) -> Result<(), TemplateError> {
        self.env
            .template_from_str(source)
            .map(|_| ())
            .map_err(|e| TemplateError(format!("{e:#}")))
    }
    pub fn check_expr(&self, expr: &str) -> Result<(), TemplateError> {
        self.env
            .compile_expression(expr)
            .map(|_| ())
            .map_err(|e| TemplateError(format!("{e:#}")))
    }
    pub fn check_file(&self, name: &str) -> Result<(), TemplateError> {
        let src =
            std::fs::read_to_string(name).map_err(|e| TemplateError(format!("{name}: {e}")))?;
        self.check_str(&src)
    }
}

impl TemplateError {
    pub fn line(&self) -> Option<usize> {
        None
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}
