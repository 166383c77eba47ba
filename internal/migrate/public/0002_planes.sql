-- The default plan catalog (prices in COP cents).
INSERT INTO public.billing_plan (codigo, nombre, precio_mensual_centavos, dias_prueba, max_sedes, max_profesionales, max_citas_mes)
VALUES ('basico',      'Básico',       4990000, 14, 1,    3,    500),
       ('profesional', 'Profesional',  9990000, 14, 3,    15,   3000),
       ('empresa',     'Empresa',     24990000, 14, NULL, NULL, NULL)
ON CONFLICT (codigo) DO NOTHING;
